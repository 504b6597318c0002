"""A detector frame the writer could not read: read() raises, locally and over HTTP; check lists it.

As TiledWriter's catalog raises reading a file it cannot open; never the datum
id served as the image, never the field silently left out. Ours answers 424
(not retried by Tiled's client) where TiledWriter's answers 500 (retried for 45 s).
"""

from __future__ import annotations

import json
from pathlib import Path

import bluesky.plans as bp
import numpy as np
import pytest
from bluesky import RunEngine
from click.testing import CliRunner
from tiled.client.utils import ClientError

from resonance_callback import RunWriterCallback, open_beamtime
from resonance_callback.cli import main
from resonance_callback.errors import StorageError

from ..external.test_detector_files import capture, feed, img_in, npy_expected
from .conftest import API_KEY, serving


@pytest.fixture(scope="module")
def gaps(tmp_path_factory: pytest.TempPathFactory):
    """Two counts of an ophyd.sim image: the first misses its 2nd file, the second every file."""
    base = tmp_path_factory.mktemp("unreadable")
    RE = RunEngine({}, context_managers=[])
    img = img_in(base / "npy")
    some, every = capture(RE, bp.count([img], num=3)), capture(RE, bp.count([img], num=2))
    expected = npy_expected(some)
    for docs, gone in ((some, [1]), (every, [0, 1])):
        (resource,) = docs.of("resource")
        for index in gone:
            (Path(resource["root"]) / f"{resource['resource_path']}_{index}.npy").unlink()
    with RunWriterCallback(base / "bt.db", external_timeout=0.2) as callback:
        feed(callback, some)
        feed(callback, every)
    uids = {"some": some.of("start")[0]["uid"], "every": every.of("start")[0]["uid"]}
    with serving(base / "bt.db") as url:
        yield base / "bt.db", url, uids, expected


@pytest.mark.parametrize("which", ["some", "every"])
def test_reading_a_stream_with_a_frame_never_stored_raises_over_http(gaps, which,
                                                                     open_client) -> None:
    db, url, uids, _ = gaps
    stream = open_client(url, api_key=API_KEY)[uids[which]]["primary"]
    assert sorted(stream.base) == ["img", "internal"]
    assert "img" not in stream.base["internal"].columns  # the datum ids are not the image
    with pytest.raises(ClientError, match="424: frame .* was not stored: seq_num .*"
                                          "FileNotFoundError"):
        stream.read()


def test_the_stored_frames_and_the_other_fields_still_read_over_http(gaps, open_client) -> None:
    _, url, uids, expected = gaps
    stream = open_client(url, api_key=API_KEY)[uids["some"]]["primary"]
    frames = stream.base["img"]
    assert frames.shape == (3, *expected[1].shape)
    np.testing.assert_array_equal(frames[0], expected[1])
    np.testing.assert_array_equal(frames[2], expected[3])
    with pytest.raises(ClientError, match="424: .*seq_num 2"):
        frames[1]
    assert len(stream.base["internal"].read()) == 3


@pytest.mark.parametrize("which", ["some", "every"])
def test_reading_a_frame_never_stored_raises_locally_naming_it(gaps, which) -> None:
    db, _, uids, _ = gaps
    with open_beamtime(db) as bt:
        ds = bt[uids[which]].primary.read()
        assert ds["img"].dims == ("time", "img_dim1", "img_dim2")
        assert ds.sizes["time"] == {"some": 3, "every": 2}[which]
        with pytest.raises(StorageError, match="FileNotFoundError") as raised:
            ds.compute()
        assert "seq_num" in str(raised.value) and "/primary/img" in str(raised.value)


def test_check_lists_every_frame_never_stored(gaps) -> None:
    db, _, uids, _ = gaps
    result = CliRunner().invoke(main, ["check", str(db), "--json"])
    assert result.exit_code == 1
    listed = json.loads(result.output)["unresolved_frames"]
    assert sorted((f["run_uid"], f["field"], f["seq_num"]) for f in listed) == sorted(
        [(uids["some"], "img", 2), (uids["every"], "img", 1), (uids["every"], "img", 2)])
