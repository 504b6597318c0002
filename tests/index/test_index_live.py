from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import event_model
import pytest

from resonance_callback import RunIndexer, reindex, search
from resonance_callback.index import IndexWriter
from resonance_callback.index._rebuild import index_beamtime

from ..beamtime_fixture import BeamtimeSession


def documents(plan_name: str = "count", t0: float = 1.7e9):
    bundle = event_model.compose_run(time=t0, metadata={"plan_name": plan_name, "scan_id": 1})
    stop = bundle.compose_stop(time=t0 + 1, exit_status="abort")
    return bundle.start_doc, stop


def indexer_for(tmp_path: Path, index: Path | str | None = None, **kwargs) -> RunIndexer:
    return RunIndexer(tmp_path / "index.db" if index is None else index, "Alice", tmp_path,
                      "march", tmp_path / "bt.db", **kwargs)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_indexer_records_start_and_stop(tmp_path: Path, index_target: Path | str) -> None:
    start, stop = documents()
    with indexer_for(tmp_path, index_target) as indexer:
        assert indexer.run_started(start, "PS-1")
        [run] = search(index_target)
        assert (run.sample_name, run.time_stop, run.exit_status) == ("PS-1", None, None)
        assert indexer.run_stopped(stop, {"primary": 0})
    [run] = search(index_target)
    assert (run.researcher, run.beamtime, run.db_path) == ("Alice", "march", tmp_path / "bt.db")
    assert (run.time_stop, run.exit_status, run.num_events) == (
        stop["time"], "aborted", {"primary": 0})


def test_unreachable_index_costs_one_warning_and_no_exception(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    start, _ = documents()
    indexer = RunIndexer(tmp_path / "gone" / "index.db", "Alice", tmp_path, "march",
                         tmp_path / "bt.db")
    assert indexer.run_started(start, "PS-1") is False
    [line] = warnings_of(caplog)
    assert start["uid"] in line and "gone/index.db" in line and "\n" not in line
    assert "resonance-callback index add-beamtime" in line and "--researcher Alice" in line


def test_unreachable_postgres_index_costs_one_warning_hiding_the_password(
    tmp_path: Path, postgres_server, caplog: pytest.LogCaptureFixture
) -> None:
    start, _ = documents()
    url = f"postgresql://alice:secret@127.0.0.1:{postgres_server.port}/no_such_database"
    indexer = indexer_for(tmp_path, url)
    assert indexer.run_started(start, "PS-1") is False
    [line] = warnings_of(caplog)
    assert start["uid"] in line and "postgresql://alice:***@" in line and "\n" not in line
    assert "secret" not in line


def test_a_postgres_lock_held_elsewhere_does_not_hold_up_the_caller(
    tmp_path: Path, postgres_server, caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    start, _ = documents()
    url = postgres_server.new_database()
    with indexer_for(tmp_path, url) as indexer:
        assert indexer.run_started(documents(t0=1.6e9)[0], "PS-0")  # registered
    with psycopg.connect(url) as blocker:  # a transaction holding every researcher's row
        blocker.execute("SELECT * FROM researchers FOR UPDATE")
        with indexer_for(tmp_path, url, busy_timeout=0.1, attempts=2) as indexer:
            began = time.monotonic()
            assert indexer.run_started(start, "PS-1") is False
            assert time.monotonic() - began < 10.0
    assert "lock timeout" in warnings_of(caplog)[0]


def test_malformed_documents_never_raise(tmp_path: Path, index_target: Path | str,
                                         caplog) -> None:
    with indexer_for(tmp_path, index_target) as indexer:
        assert indexer.run_started({"no": "uid"}) is False
        assert indexer.run_stopped({"run_start": "never-started"}) is False
    assert len(warnings_of(caplog)) == 2


def test_locked_index_does_not_hold_up_the_caller(tmp_path: Path, caplog) -> None:
    start, stop = documents()
    IndexWriter(tmp_path / "index.db").ensure_schema()
    blocker = sqlite3.connect(tmp_path / "index.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with indexer_for(tmp_path, busy_timeout=0.1, attempts=2) as indexer:
            began = time.monotonic()
            assert indexer.run_started(start, "PS-1") is False
            assert time.monotonic() - began < 2.0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert "database is locked" in warnings_of(caplog)[0]


def test_stop_writes_the_whole_run_when_its_start_was_missed(tmp_path: Path) -> None:
    start, stop = documents()
    IndexWriter(tmp_path / "index.db").ensure_schema()
    blocker = sqlite3.connect(tmp_path / "index.db", isolation_level=None)
    with indexer_for(tmp_path, busy_timeout=0.05, attempts=1) as indexer:
        blocker.execute("BEGIN IMMEDIATE")
        assert indexer.run_started(start, "PS-1") is False
        blocker.execute("ROLLBACK")
        assert indexer.run_stopped(stop, {"primary": 0})
    blocker.close()
    [run] = search(tmp_path / "index.db")
    assert (run.uid, run.sample_name, run.exit_status) == (start["uid"], "PS-1", "aborted")


def test_stop_seen_without_its_start_finishes_an_indexed_run(tmp_path: Path,
                                                            index_target: Path | str) -> None:
    start, stop = documents()
    with indexer_for(tmp_path, index_target) as first:
        first.run_started(start, "PS-1")
    with indexer_for(tmp_path, index_target) as second:  # the callback restarted mid-run
        assert second.run_stopped(stop)
    [run] = search(index_target)
    assert (run.exit_status, run.num_events) == ("aborted", {})


def test_reindex_repairs_updates_the_indexer_missed(tmp_path: Path, caplog) -> None:
    index = tmp_path / "index.db"
    IndexWriter(index).ensure_schema()
    indexer = indexer_for(tmp_path, busy_timeout=0.05, attempts=1)
    session = BeamtimeSession(tmp_path / "bt.db", indexer)
    session.sample = "PS-1"
    bundle = event_model.compose_run(metadata={"plan_name": "count", "scan_id": 9})
    session("start", bundle.start_doc)  # indexed
    desc = bundle.compose_descriptor(name="primary", data_keys={
        "x": {"source": "sim", "dtype": "number", "shape": []}})
    session("descriptor", desc.descriptor_doc)
    session("event", desc.compose_event(data={"x": 1.0}, timestamps={"x": 1.0}, seq_num=1))
    blocker = sqlite3.connect(index, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    session("stop", bundle.compose_stop())  # the index is locked: the stop is missed
    blocker.execute("ROLLBACK")
    blocker.close()
    session.close()
    indexer.close()
    assert len(warnings_of(caplog)) == 1
    assert search(index)[0].exit_status is None

    assert reindex(index).ok
    [run] = search(index)
    assert (run.scan_id, run.exit_status, run.num_events) == (9, "success", {"primary": 1})


def test_add_beamtime_repairs_a_session_that_never_reached_the_index(tmp_path: Path) -> None:
    session = BeamtimeSession(tmp_path / "bt.db",
                              RunIndexer(tmp_path / "gone" / "i.db", "Alice", tmp_path, "m",
                                         tmp_path / "bt.db"))
    bundle = event_model.compose_run(metadata={"plan_name": "count"})
    session("start", bundle.start_doc)
    session("stop", bundle.compose_stop())
    session.close()
    with IndexWriter(tmp_path / "index.db") as writer:
        rid = writer.register_researcher("Alice", tmp_path)
        writer.register_beamtime(rid, "m", tmp_path / "bt.db")
        assert index_beamtime(writer, writer.beamtimes()[0]) == (1, 0)
    assert [run.uid for run in search(tmp_path / "index.db")] == [bundle.start_doc["uid"]]
