"""The callback indexes each run in the master index as it starts and stops."""

from __future__ import annotations

import logging
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.plans as bp
from ophyd.sim import det, motor

from resonance_callback import RunIndexer, RunWriterCallback, reindex, search

from ..conftest import sql


def indexer(tmp_path: Path, index_path: Path) -> RunIndexer:
    return RunIndexer(index_path, "Alice", tmp_path, "2026-11", tmp_path / "bt" / "beamtime.db")


def test_runs_are_indexed_live_with_their_end(RE, tmp_path: Path) -> None:
    (tmp_path / "bt").mkdir()
    index_path = tmp_path / "index.db"
    with RunWriterCallback(tmp_path / "bt" / "beamtime.db",
                           index=indexer(tmp_path, index_path)) as callback:
        RE.subscribe(callback)
        RE(bp.count([det], num=3), sample="PS-1", tags=["calibration"])
        RE(bp.scan([det], motor, 0, 1, 5), sample="Si")
        assert [r.exit_status for r in search(index_path)] == ["success", "success"]
    [run] = search(index_path, sample="PS-1", tag="calibration")
    assert run.plan_name == "count" and run.num_events == {"primary": 3}
    assert run.db_path == (tmp_path / "bt" / "beamtime.db").resolve()
    live = [r.to_dict() for r in search(index_path)]
    reindex(index_path)
    assert [r.to_dict() for r in search(index_path)] == live


def test_a_running_scan_is_indexed_as_running(RE, tmp_path: Path) -> None:
    (tmp_path / "bt").mkdir()
    index_path = tmp_path / "index.db"
    seen = []

    def plan():
        yield from bps.open_run()
        yield from bps.trigger_and_read([det])
        callback.flush()
        seen.extend(search(index_path))
        yield from bps.close_run()

    with RunWriterCallback(tmp_path / "bt" / "beamtime.db",
                           index=indexer(tmp_path, index_path)) as callback:
        RE.subscribe(callback)
        RE(plan())
    assert [r.exit_status for r in seen] == [None]


def test_a_broken_index_never_loses_the_run(RE, tmp_path: Path, caplog) -> None:
    (tmp_path / "bt").mkdir()
    broken = tmp_path / "no-such-dir" / "index.db"
    with caplog.at_level(logging.WARNING), RunWriterCallback(
        tmp_path / "bt" / "beamtime.db", index=indexer(tmp_path, broken)
    ) as callback:
        RE.subscribe(callback)
        RE(bp.count([det], num=2))
    assert sql(tmp_path / "bt" / "beamtime.db", "SELECT exit_status FROM runs") == [("success",)]
    assert sql(tmp_path / "bt" / "beamtime.db", "SELECT count(*) FROM events") == [(2,)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("index add-beamtime" in w for w in warnings)
    assert not broken.exists()


def test_three_live_beamtimes_and_reindex_give_identical_search_results(
    RE, tmp_path: Path
) -> None:
    index_path = tmp_path / "index.db"
    sessions = [("Alice", "alice", "2026-09"), ("Alice", "alice", "2026-10"),
                ("Bob", "bob", "2026-11")]
    for i, (name, root, label) in enumerate(sessions):
        db = tmp_path / root / label / "beamtime.db"
        db.parent.mkdir(parents=True)
        indexer = RunIndexer(index_path, name, tmp_path / root, label, db)
        with RunWriterCallback(db, index=indexer) as callback:
            token = RE.subscribe(callback)
            RE(bp.count([det], num=2), sample=f"PS-{i}", tags=["calibration"])
            RE(bp.scan([det], motor, 0, 1, 3), sample="Si", operator=name)
            RE.unsubscribe(token)
    queries = [{}, {"sample": "PS-*"}, {"researcher": "Bob"}, {"plan": "scan"},
               {"tag": "calibration"}, {"where": {"operator": "Alice"}}]
    live = [[r.to_dict() for r in search(index_path, **q)] for q in queries]
    assert [len(rows) for rows in live] == [6, 3, 2, 3, 3, 2]
    report = reindex(index_path)
    assert report.ok
    assert [[r.to_dict() for r in search(index_path, **q)] for q in queries] == live
