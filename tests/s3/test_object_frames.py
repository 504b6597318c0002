"""Frames on S3: written a shard at a time, read back equal to the local store's everywhere."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.plans import count
from click.testing import CliRunner

from resonance_callback import RunWriterCallback, open_beamtime
from resonance_callback.cli import main
from resonance_callback.read import check_beamtime
from resonance_callback.store import RunWriter, frame_stores

from ..serve.conftest import camera
from ..tiled_server.conftest import API_KEY, serving
from .conftest import objects

FRAMES = 70  # frames of a run (64x48 uint16, 6 KiB each): one shard holds up to 512
SHAPE = (64, 48)


@pytest.fixture
def side_by_side(tmp_path: Path, frames_url: str) -> tuple[Path, Path, str, str]:
    """One RunEngine run of a camera written to a local beamtime and an S3 one at once."""
    local, remote = tmp_path / "local" / "bt.db", tmp_path / "remote" / "bt.db"
    local.parent.mkdir()
    remote.parent.mkdir()
    RE = RunEngine({})
    with RunWriterCallback(local) as a, RunWriterCallback(remote, frames=frames_url) as b:
        RE.subscribe(a)
        RE.subscribe(b)
        (uid,) = RE(count([camera(SHAPE)], num=FRAMES))
    return local, remote, frames_url, uid


def test_frames_on_s3_read_back_frame_for_frame_equal_to_the_local_store(side_by_side):
    local, remote, _, uid = side_by_side
    with open_beamtime(local) as here, open_beamtime(remote) as there:
        ours, theirs = here[uid].images("cam"), there[uid].images("cam")
        assert theirs.shape == ours.shape == (FRAMES, *SHAPE)
        for i in range(FRAMES):
            np.testing.assert_array_equal(theirs[i], ours[i])
        np.testing.assert_array_equal(theirs[10:30, 5:9], ours[10:30, 5:9])


def test_frames_on_s3_read_through_xarray_equal_to_the_local_store(side_by_side):
    local, remote, _, uid = side_by_side
    with open_beamtime(local) as here, open_beamtime(remote) as there:
        ours, theirs = here[uid].primary.read(), there[uid].primary.read()
        np.testing.assert_array_equal(theirs["cam"].values, ours["cam"].values)


def test_frames_on_s3_served_by_serve_tiled_equal_to_the_local_store(side_by_side, open_client):
    local, remote, _, uid = side_by_side
    with serving(local) as here, serving(remote) as there:
        ours = open_client(here, api_key=API_KEY)[uid]["primary"]["cam"]
        theirs = open_client(there, api_key=API_KEY)[uid]["primary"]["cam"]
        np.testing.assert_array_equal(theirs.read(), ours.read())


def test_a_runs_frames_are_a_few_shard_objects_not_one_per_frame(side_by_side):
    _, _, url, uid = side_by_side
    per_shard = frame_stores_frames_per_shard()
    shards = [k for k in objects(url, f"runs/{uid}/primary/cam/c/")]
    assert len(shards) == math.ceil(FRAMES / per_shard) < FRAMES


def frame_stores_frames_per_shard() -> int:
    from resonance_callback.store._shards import frames_per_shard

    return frames_per_shard(np.zeros(SHAPE, dtype=np.uint16))


def test_the_beamtime_records_its_frames_url_and_readers_find_them_there(side_by_side):
    _, remote, url, _ = side_by_side
    assert frame_stores.recorded_location(remote) == url
    assert not remote.with_suffix(".zarr").exists()
    assert check_beamtime(remote).ok


def test_a_writer_given_no_place_writes_to_the_recorded_url(side_by_side):
    _, remote, url, uid = side_by_side
    with RunWriter(remote, None) as writer:
        writer.open_run("count", uid="more")
        writer.open_stream("primary", {"img": {"dtype": "array", "shape": [4, 4],
                                               "source": "sim", "external": "STORE"}})
        event = writer.write_event({"img": 1}, {}, seq_num=1)
        writer.write_image(event, "img", np.full((4, 4), 7, dtype=np.uint16))
        writer.close_run(uid="more")
    assert objects(url, "runs/more/primary/img/c/")
    with open_beamtime(remote) as bt:
        np.testing.assert_array_equal(bt["more"].images("img")[0], np.full((4, 4), 7))


def test_a_writer_given_another_place_than_the_recorded_one_is_refused(side_by_side, tmp_path):
    _, remote, url, _ = side_by_side
    result = CliRunner().invoke(main, ["replay", str(tmp_path / "none.jsonl"), "--db",
                                       str(remote), "--frames", str(tmp_path / "elsewhere")])
    assert result.exit_code != 0
    assert f"keeps its frames at {url}" in result.output


def test_demo_with_frames_url_writes_every_frame_to_s3_and_check_finds_them(tmp_path,
                                                                            frames_url):
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "demo"), "--frames", frames_url])
    assert result.exit_code == 0, result.output
    assert f"frames in {frames_url}" in result.output
    assert not (tmp_path / "demo" / "demo.zarr").exists()
    check = CliRunner().invoke(main, ["check", str(tmp_path / "demo" / "demo.db")])
    assert check.exit_code == 0, check.output
    assert "OK: no problems found" in check.output


def test_export_tiff_of_frames_on_s3_equals_the_local_stores(side_by_side, tmp_path):
    import tifffile

    local, remote, _, uid = side_by_side
    for db, out in ((local, tmp_path / "here"), (remote, tmp_path / "there")):
        result = CliRunner().invoke(main, ["export", str(db), uid, "--format", "tiff",
                                           "--stack", "-o", str(out)])
        assert result.exit_code == 0, result.output
    (ours,), (theirs,) = sorted((tmp_path / "here").rglob("*.tif*")), sorted(
        (tmp_path / "there").rglob("*.tif*"))
    np.testing.assert_array_equal(tifffile.imread(theirs), tifffile.imread(ours))


def test_a_beamtime_with_frames_in_its_folder_refuses_a_frames_url(side_by_side, frames_url):
    local, _, _, _ = side_by_side
    with pytest.raises(OSError, match=f"keeps its frames in a folder.*not at {frames_url}"):
        RunWriterCallback(local, frames=frames_url)
    assert frame_stores.recorded_location(local) is None
