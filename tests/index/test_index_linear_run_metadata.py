"""Index schema 3: start metadata is filed in time linear in its size, as the same rows."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from resonance_callback import IndexWriter, jsoncodec, search
from resonance_callback import _sqlite as schema
from tests.bounded import run_bounded

from ..store.test_linear_run_metadata import BOUND_S, OLD_VIEW, positions, rows, upgrade
from ..store.test_run_queries_schema import database_at_version


def index_start(index: str, root: str, n: int) -> str:
    uid = uuid.uuid4().hex
    with IndexWriter(index) as writer:
        rid = writer.register_researcher("Alice", root)
        bid = writer.register_beamtime(rid, "bt", Path(root) / "bt.db")
        writer.index_run(uid, rid, bid, "list_scan", time_start=1.7e9,
                         metadata={"positions": positions(n)})
    return uid


def test_indexing_a_start_with_a_100000_element_list_is_bounded_and_found_by_a_value(
        tmp_path: Path) -> None:
    index = tmp_path / "index.db"
    uid, _peak = run_bounded(index_start, str(index), str(tmp_path), 100_000, seconds=BOUND_S)
    assert [r.uid for r in search(index, where={"positions": positions(100_000)[-1]})] == [uid]


def old_index(path: Path, version: int, n: int) -> str:
    """An index of ``version`` (1: no run_metadata; 2: the quadratic view) with one long run."""
    conn = database_at_version(path, "index", version)
    if version >= 2:  # as a release before index schema 3 left it
        conn.executescript("DROP VIEW run_metadata_leaves;"
                           + OLD_VIEW.replace("old_leaves", "run_metadata_leaves"))
    conn.execute("INSERT INTO researchers (name, root_path) VALUES ('Alice', '/data/alice')")
    conn.execute("INSERT INTO beamtimes (researcher_id, label, db_path) VALUES (1, 'bt', 'b.db')")
    uid = uuid.uuid4().hex
    conn.execute("INSERT INTO runs (uid, beamtime_id, plan_name, time_start, metadata) "
                 "VALUES (?, 1, 'list_scan', 1.7e9, ?)",
                 (uid, jsoncodec.dumps({"positions": positions(n), "tags": ["t"]})))
    conn.close()
    return uid


def test_a_version_1_index_holding_a_100000_element_list_is_upgraded_in_bounded_time(
        tmp_path: Path) -> None:
    index = tmp_path / "index.db"
    uid = old_index(index, 1, 100_000)
    version, _peak = run_bounded(upgrade, str(index), "index", seconds=BOUND_S)
    assert version == schema.latest_version("index")
    assert [r.uid for r in search(index, where={"positions": positions(100_000)[5]})] == [uid]


def test_an_index_made_with_the_quadratic_view_is_given_the_linear_one_and_keeps_its_rows(
        tmp_path: Path) -> None:
    index = tmp_path / "index.db"
    uid = old_index(index, 2, 100)
    conn = sqlite3.connect(index)
    before = rows(conn, "run_metadata")
    conn.close()
    assert (uid, "tags", "text", "t") in before
    upgrade(str(index), "index")
    conn = sqlite3.connect(index)
    try:
        assert rows(conn, "run_metadata") == before
        view = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'run_metadata_leaves'"
                            ).fetchone()[0]
        assert "json_tree" in view and "JOIN" not in view.upper()
    finally:
        conn.close()
