from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from resonance_callback import IndexWriter, StorageError, reindex, search
from resonance_callback import _sqlite as schema
from resonance_callback.index._rebuild import read_beamtime_runs

from ..beamtime_fixture import OWNERS, Site, build_site


def index_tables(index: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(index)
    try:
        return {
            "runs": conn.execute("SELECT * FROM runs ORDER BY uid").fetchall(),
            "run_tags": conn.execute("SELECT * FROM run_tags ORDER BY run_uid, tag").fetchall(),
            "beamtimes": conn.execute("SELECT * FROM beamtimes ORDER BY id").fetchall(),
            "researchers": conn.execute("SELECT * FROM researchers ORDER BY id").fetchall(),
        }
    finally:
        conn.close()


def delete_run(db_path: Path, uid: str) -> None:
    conn = schema.connect(db_path, "beamtime")
    with schema.transaction(conn):
        conn.execute("DELETE FROM events WHERE stream_uid IN "
                     "(SELECT uid FROM streams WHERE run_uid = ?)", (uid,))
        conn.execute("DELETE FROM streams WHERE run_uid = ?", (uid,))
        conn.execute("DELETE FROM runs WHERE uid = ?", (uid,))
    conn.close()


def test_reindex_of_a_live_built_index_changes_nothing(site: Site) -> None:
    before = index_tables(site.index)
    report = reindex(site.index)
    assert report.ok and (report.beamtimes, report.runs_indexed, report.runs_removed) == (3, 8, 0)
    assert index_tables(site.index) == before


def test_indexing_during_runengine_runs_matches_a_reindex_from_scratch(
    run_engine, tmp_path: Path
) -> None:
    live = build_site(tmp_path, run_engine=run_engine)  # RunIndexer called as the runs happen
    rebuilt = tmp_path / "rebuilt.db"
    with IndexWriter(rebuilt) as writer:
        for label, db_path in live.beamtimes.items():
            rid = writer.register_researcher(OWNERS[label], live.researchers[OWNERS[label]])
            writer.register_beamtime(rid, label, db_path)
    assert reindex(rebuilt).runs_indexed == 8
    assert len(search(live.index)) == 8
    assert search(rebuilt) == search(live.index)
    assert index_tables(rebuilt)["runs"] == index_tables(live.index)["runs"]


def test_reindex_is_idempotent(site: Site) -> None:
    reindex(site.index)
    once = index_tables(site.index)
    reindex(site.index)
    assert index_tables(site.index) == once


def test_reindex_into_a_new_index_matches_live_indexing(site: Site) -> None:
    live = site
    rebuilt = site.base / "rebuilt.db"
    with IndexWriter(rebuilt) as writer:
        for label, db_path in live.beamtimes.items():
            rid = writer.register_researcher(OWNERS[label], live.researchers[OWNERS[label]])
            writer.register_beamtime(rid, label, db_path)
    report = reindex(rebuilt)
    assert report.ok and report.runs_indexed == 8
    assert search(rebuilt) == search(live.index)
    assert index_tables(rebuilt)["runs"] == index_tables(live.index)["runs"]


def test_reindex_removes_runs_no_longer_in_their_beamtime(site: Site) -> None:
    [gone] = search(site.index, sample="Si-wafer")
    delete_run(gone.db_path, gone.uid)
    report = reindex(site.index)
    assert report.runs_removed == 1
    assert gone.uid not in {run.uid for run in search(site.index)}
    assert len(search(site.index)) == 7


def test_reindex_adds_runs_the_live_index_missed(site: Site) -> None:
    conn = sqlite3.connect(site.index)
    conn.execute("DELETE FROM runs WHERE sample_name = 'Au-foil'")
    conn.commit()
    conn.close()
    reindex(site.index)
    assert len(search(site.index, sample="Au-foil")) == 2


def test_missing_beamtime_database_is_reported_and_the_others_still_reindexed(
    site: Site,
) -> None:
    missing = site.beamtimes["bob-march"]
    missing.unlink()
    [gone] = search(site.index, sample="Si-wafer")
    delete_run(gone.db_path, gone.uid)

    report = reindex(site.index)

    assert not report.ok
    [problem] = report.problems
    assert "'bob-march' of Bob Jones not reindexed" in problem and str(missing) in problem
    assert (report.beamtimes, report.runs_indexed, report.runs_removed) == (2, 5, 1)
    # The unreachable beamtime's runs are kept: its disk may just be unmounted.
    assert len(search(site.index, researcher="Bob Jones")) == 2
    assert search(site.index, sample="Si-wafer") == []


def test_a_file_that_is_not_a_beamtime_database_is_reported(site: Site) -> None:
    site.beamtimes["2026-04"].write_bytes(b"not a database at all, just some bytes" * 100)
    report = reindex(site.index)
    [problem] = report.problems
    assert "'2026-04'" in problem and "not an SQLite database" in problem
    assert report.beamtimes == 2


def test_reindex_of_a_missing_index_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no index database at .*nope.db"):
        reindex(tmp_path / "nope.db")


def test_beamtime_runs_are_read_with_event_counts_per_stream(shared_site: Site) -> None:
    summaries = read_beamtime_runs(shared_site.beamtimes["2026-04"])
    assert [(s.plan_name, s.sample_name, s.exit_status, s.num_events) for s in summaries] == [
        ("scan", "PS-2", "success", {"primary": 4}),
        ("count", "PS-1", "success", {"primary": 1}),
        ("failing_count", "PS-2", "failed", {"primary": 1}),
    ]
    assert summaries[1].metadata["sample_info"] == {"formula": "C8H8"}


def test_an_open_run_is_read_without_an_end(tmp_path: Path) -> None:
    conn = schema.connect(tmp_path / "bt.db", "beamtime")
    conn.execute("INSERT INTO runs (uid, plan_name, time_start, metadata) "
                 "VALUES ('u1', 'count', 5.0, '{\"uid\": \"u1\", \"scan_id\": 4}')")
    conn.close()
    [summary] = read_beamtime_runs(tmp_path / "bt.db")
    assert (summary.uid, summary.scan_id, summary.time_stop, summary.exit_status) == (
        "u1", 4, None, None)
