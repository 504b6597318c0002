"""A frame as a PNG (``format=image/png`` of an array slice), for the browser view.

Tiled's own ``image/png`` scales a frame between its 1st and 99th
percentiles, so a uniform frame (all pixels equal) divides by zero and comes
out black, and one NaN makes the whole frame black. This one scales between
the percentiles of the finite pixels, falls back to their minimum and
maximum, draws a uniform frame mid-grey and a non-finite pixel black; the
shapes it takes are Tiled's (a 2-D frame; a leading axis of length 1 is
dropped; RGB(A) as ``(rows, columns, 3 or 4)``).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from resonance_callback._extras import needs_extra

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    from PIL import Image  # tiled[server] requires Pillow; the tiled extra names it too
    from tiled.utils import UnsupportedShape

__all__ = ["frame_png"]


def _grey(frame: np.ndarray) -> np.ndarray:
    """``frame`` scaled to 0..255 (uint8), as the module's description says."""
    values = frame.astype(np.float64, copy=False)
    finite = np.isfinite(values)
    out = np.zeros(values.shape, dtype=np.uint8)
    if not finite.any():
        return out
    kept = values[finite]
    low, high = np.percentile(kept, [1, 99])
    if not high > low:
        low, high = kept.min(), kept.max()
    if not high > low:
        out[finite] = 128
        return out
    scaled = np.clip((values[finite] - low) / (high - low), 0.0, 1.0)
    out[finite] = np.round(scaled * 255).astype(np.uint8)
    return out


def frame_png(mimetype: str, array: Any, metadata: dict[str, Any]) -> bytes:
    """Return one frame (an array slice) as PNG bytes.

    Parameters
    ----------
    mimetype : str
        ``image/png``.
    array : array-like
        The slice asked for: a 2-D frame, ``(1, rows, columns)``, or RGB(A)
        ``(rows, columns, 3 or 4)``.
    metadata : dict
        The node's metadata (unused).

    Returns
    -------
    bytes

    Raises
    ------
    tiled.utils.UnsupportedShape
        If the slice is not one frame of numbers (Tiled answers 406, naming
        the shape).
    """
    frame = np.asarray(array)
    while frame.ndim > 2 and frame.shape[0] == 1:
        frame = frame[0]
    rgb = frame.ndim == 3 and frame.shape[-1] in (3, 4)
    if frame.ndim == 1:
        frame = frame[np.newaxis, :]
    if not (frame.ndim == 2 or rgb) or frame.size == 0 or frame.dtype.kind not in "biuf":
        raise UnsupportedShape(frame.shape)
    image = Image.fromarray(_grey(frame))  # uint8: L, or RGB / RGBA from the last axis
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    return buffer.getvalue()
