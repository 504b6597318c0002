"""A frame served as image/png (what the browser view shows): uniform frames grey, NaN kept
to its pixel, scaled between the finite pixels' percentiles."""

from __future__ import annotations

import io
import re

import httpx
import numpy as np
import pytest
from PIL import Image
from tiled.utils import UnsupportedShape

from resonance_callback.tiled_server._png import frame_png

from .conftest import API_KEY


def _pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image)


def test_a_uniform_frame_is_served_mid_grey_not_black(rich, served) -> None:
    url = f"{served.rstrip('/')}/api/v1/array/full/{rich.scan}/primary/img"
    headers = {"Authorization": f"Apikey {API_KEY}"}
    values = httpx.get(url, params={"slice": "0", "format": "application/json"},
                       headers=headers, timeout=60).json()
    assert len({v for row in values for v in row}) == 1  # direct_img: one value everywhere
    png = httpx.get(url, params={"slice": "0", "format": "image/png"}, headers=headers,
                    timeout=60)
    assert png.headers["content-type"] == "image/png"
    pixels = _pixels(png.content)
    assert pixels.shape == np.asarray(values).shape
    assert (pixels == 128).all()


def test_a_nan_pixel_is_black_and_the_others_keep_their_scale() -> None:
    frame = np.arange(12, dtype=np.float64).reshape(3, 4)
    frame[0, 0] = np.nan
    pixels = _pixels(frame_png("image/png", frame, {}))
    assert pixels[0, 0] == 0
    assert pixels[2, 3] == 255 and pixels[0, 1] == 0  # 99th and 1st percentiles
    assert (np.diff(pixels.ravel()[1:].astype(int)) >= 0).all()


@pytest.mark.parametrize("shape", [(2, 3, 5), (0, 4), (2, 2, 2, 2)])
def test_a_slice_that_is_not_one_frame_is_refused_naming_its_shape(shape) -> None:
    with pytest.raises(UnsupportedShape, match=re.escape(str(shape))):
        frame_png("image/png", np.zeros(shape), {})
