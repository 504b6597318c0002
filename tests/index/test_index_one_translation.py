"""One translation of documents into columns: the beamtime and the live index agree."""

from __future__ import annotations

from pathlib import Path

import event_model

from resonance_callback import RunIndexer, RunWriterCallback, reindex, search

from ..conftest import sql


def _columns_in_both(tmp_path: Path, **metadata) -> tuple[tuple, tuple, tuple]:
    """Feed one run's documents (the start given odd values after composing) to the callback."""
    (tmp_path / "bt").mkdir()
    db, index = tmp_path / "bt" / "beamtime.db", tmp_path / "index.db"
    indexer = RunIndexer(index, "Alice", tmp_path, "2026-11", db)
    run = event_model.compose_run(metadata={"plan_name": "count", "scan_id": 4})
    run.start_doc.update(metadata)
    stream = run.compose_descriptor(name="primary", data_keys={
        "x": {"dtype": "number", "shape": [], "source": "sim"}})
    with RunWriterCallback(db, index=indexer) as callback:
        callback("start", run.start_doc)
        callback("descriptor", stream.descriptor_doc)
        for i in range(2):
            callback("event", stream.compose_event(data={"x": i}, timestamps={"x": 1.0 + i}))
        callback("stop", run.compose_stop(exit_status="abort"))
    [stored] = sql(db, "SELECT plan_name, scan_id, time_start, time_stop, exit_status FROM runs")
    [live] = search(index)
    reindex(index)
    [rebuilt] = search(index)
    return (tuple(stored),
            (live.plan_name, live.scan_id, live.time_start, live.time_stop, live.exit_status),
            (rebuilt.plan_name, rebuilt.scan_id, rebuilt.time_start, rebuilt.time_stop,
             rebuilt.exit_status))


def test_a_start_whose_scan_id_is_too_large_has_none_in_the_beamtime_and_the_index(
        tmp_path: Path) -> None:
    stored, live, rebuilt = _columns_in_both(tmp_path, scan_id=2**70)
    assert stored[1] is None
    assert live == stored == rebuilt


def test_a_start_whose_scan_id_is_a_bool_has_none_in_the_beamtime_and_the_index(
        tmp_path: Path) -> None:
    stored, live, rebuilt = _columns_in_both(tmp_path, scan_id=True)
    assert stored[1] is None
    assert live == stored == rebuilt


def test_a_start_whose_plan_name_is_not_a_string_has_none_in_the_beamtime_and_the_index(
        tmp_path: Path) -> None:
    stored, live, rebuilt = _columns_in_both(tmp_path, plan_name=7)
    assert stored[0] is None
    assert live == stored == rebuilt


def test_a_good_run_has_the_same_columns_in_the_beamtime_and_the_index(
        tmp_path: Path) -> None:
    stored, live, rebuilt = _columns_in_both(tmp_path)
    assert stored[:2] == ("count", 4) and stored[4] == "aborted"
    assert live == stored == rebuilt
