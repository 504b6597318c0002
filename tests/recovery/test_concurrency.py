"""Writer processes sharing one beamtime: nothing lost, ordinals unique, a replay stored once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import bluesky.plans as bp
from ophyd.sim import det, direct_img

from resonance_callback.read import check_beamtime

from ..conftest import sql
from ..replay_corpus import save
from .workers import open_new_beamtimes, replay_file, write_runs_with_datums

CTX = multiprocessing.get_context("spawn")


def race(target, args_of, n: int = 2) -> list:
    barrier, results = CTX.Barrier(n), CTX.Queue()
    processes = [CTX.Process(target=target, args=(*args_of(i), barrier, results))
                 for i in range(n)]
    for process in processes:
        process.start()
    found = [results.get(timeout=240) for _ in processes]
    for process in processes:
        process.join(60)
    return found


def test_two_processes_creating_the_same_new_beamtime_at_once_both_open_it(
        tmp_path: Path) -> None:
    # Each of 60 new beamtimes is opened by two processes in step: one makes the Zarr
    # group while the other looks for it; neither may fail (zarr's open_group(mode="a")
    # raised ContainsGroupError in the second when the first won between its look and
    # its create).
    results = race(open_new_beamtimes, lambda i: (tmp_path, i, 60))
    assert sorted(results) == [(0, None), (1, None)]
    assert all((tmp_path / f"bt{i}.zarr" / "zarr.json").is_file() for i in range(60))


def test_two_writer_processes_store_every_run_with_unique_ordinals(tmp_path: Path) -> None:
    db_path = tmp_path / "bt.db"
    results = race(write_runs_with_datums, lambda i: (db_path, i, 20))
    assert sorted(results) == [(0, None), (1, None)]
    assert sql(db_path, "SELECT count(*), count(DISTINCT ordinal) FROM external_documents") == [
        (200, 200)]
    assert sql(db_path, "SELECT count(*) FROM events") == [(200,)]
    assert sql(db_path, "SELECT count(*) FROM runs WHERE exit_status = 'success'") == [(40,)]
    assert check_beamtime(db_path).ok


def test_the_same_stream_replayed_twice_at_once_is_stored_once(RE, tmp_path: Path) -> None:
    docs: list = []
    RE(bp.count([det, direct_img], num=200), lambda name, doc: docs.append((name, doc)))
    RE(bp.count([det], num=1000), lambda name, doc: docs.append((name, doc)))
    saved = save("json-seq", docs, tmp_path / "saved")
    db_path = tmp_path / "bt.db"
    results = race(replay_file, lambda i: (saved, db_path))
    assert results == [(None, 0), (None, 0)]
    assert sql(db_path, "SELECT count(*) FROM events") == [(1200,)]
    assert sql(db_path, "SELECT count(*) FROM image_refs") == [(200,)]
    report = check_beamtime(db_path)
    assert report.ok, report.lines()
