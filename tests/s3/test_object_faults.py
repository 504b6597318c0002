"""Frames on S3 when things go wrong: a server restart, a dead writer, a lost shard, bad input."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky import plan_stubs as bps
from bluesky import preprocessors as bpp
from bluesky.plans import count
from click.testing import CliRunner

from resonance_callback import RunWriterCallback, open_beamtime
from resonance_callback.cli import main
from resonance_callback.read import check_beamtime
from resonance_callback.store import frame_stores, repair_beamtime
from resonance_callback.store._shards import MAX_SHARD_FRAMES
from tools.s3_server import free_ports

from ..recovery.workers import die_mid_run
from ..serve.conftest import camera
from .conftest import objects

CTX = multiprocessing.get_context("spawn")


def test_s3_server_restarted_mid_run_the_run_waits_and_every_row_names_a_stored_frame(
        tmp_path, frames_url, s3_env):
    db = tmp_path / "bt.db"
    cam = camera((32, 32))
    restarted = threading.Event()

    def plan():
        @bpp.run_decorator()
        def inner():
            for i in range(60):
                if i == 20:  # the server goes away with frames being written, comes back
                    threading.Thread(target=lambda: (s3_env.restart(down=2.0),
                                                     restarted.set())).start()
                yield from bps.trigger_and_read([cam])
                yield from bps.sleep(0.05)
        return (yield from inner())

    RE = RunEngine({})
    with RunWriterCallback(db, frames=frames_url, commit_interval=0.1) as callback:
        RE.subscribe(callback)
        RE(plan())
    assert restarted.wait(120)
    report = check_beamtime(db)
    assert report.ok, report.lines()
    with open_beamtime(db) as bt:
        frames = bt[-1].images("cam")
        assert len(frames) == 60
        first = int(frames[0][0, 0])  # the camera counts up, one value per frame
        for i in range(60):
            np.testing.assert_array_equal(frames[i], np.full((32, 32), first + i))


def test_repair_removes_the_shards_a_dead_writer_put_past_its_last_commit(tmp_path, frames_url):
    db = tmp_path / "bt.db"
    process = CTX.Process(target=die_mid_run, args=(db, 3, 2 * MAX_SHARD_FRAMES, frames_url, 1.0))
    process.start()
    process.join(120)
    assert process.exitcode == 0
    shards = "runs/cut/primary/img/c/"
    # shard 0 holds the 3 committed frames; shard 1 only frames no row references
    assert sorted(objects(frames_url, shards)) == [f"{shards}0/0/0", f"{shards}1/0/0"]
    report = repair_beamtime(db)
    assert report.interrupted == ["cut"]
    assert objects(frames_url, shards) == [f"{shards}0/0/0"]
    assert report.orphan_chunks >= 1
    with open_beamtime(db) as bt:
        frames = bt["cut"].images("img")
        assert len(frames) == 3
        np.testing.assert_array_equal(frames[2], np.full((4, 4), 2))
    assert repair_beamtime(db).orphan_chunks == 0  # nothing more to do


def test_check_reports_frames_whose_shard_is_missing_from_the_bucket(tmp_path, frames_url):
    db = tmp_path / "bt.db"
    RE = RunEngine({})
    with RunWriterCallback(db, frames=frames_url) as callback:
        RE.subscribe(callback)
        (uid,) = RE(count([camera((8, 8))], num=5))
    (shard,) = objects(frames_url, f"runs/{uid}/primary/cam/c/")
    frame_stores.ObjectFrames(frames_url).delete([shard])
    report = check_beamtime(db)
    assert not report.ok
    (bad,) = report.bad_image_refs
    assert bad["rows"] == 5 and "cannot be read back" in bad["problem"]


def _one_line_error(result, url: str) -> str:
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert url in lines[0]
    return lines[0]


@pytest.mark.parametrize("url", ["s3://Not_A_Bucket/x", "gs://frames/x", "s3://frames/a/../b",
                                 "s3:///x"])
def test_a_bad_frames_url_is_one_error_line_naming_it(tmp_path, url, s3_env):
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "demo"), "--frames", url])
    _one_line_error(result, url)
    assert not (tmp_path / "demo" / "demo.zarr").exists()


def test_missing_credentials_are_one_error_line_naming_the_url(tmp_path, frames_url,
                                                               monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "demo"), "--frames", frames_url])
    assert "credentials" in _one_line_error(result, frames_url)


def test_wrong_credentials_are_one_error_line_naming_the_url(tmp_path, frames_url, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "demo"), "--frames", frames_url])
    _one_line_error(result, frames_url)


def test_an_unreachable_endpoint_is_one_error_line_naming_the_url(tmp_path, frames_url,
                                                                  monkeypatch):
    (port,) = free_ports(1)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "demo"), "--frames", frames_url])
    _one_line_error(result, frames_url)
    assert time.monotonic() - start < 120  # generous: it gives up, it does not hang
    assert frame_stores.recorded_location(Path(tmp_path / "demo" / "demo.db")) is None
