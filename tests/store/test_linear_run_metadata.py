"""Beamtime schema 5: start metadata is filed in time linear in its size, as the same rows."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resonance_callback import _sqlite as schema
from resonance_callback import jsoncodec, open_beamtime
from resonance_callback.store import RunWriter
from tests.bounded import run_bounded

from .test_run_queries_schema import database_at_version

#: The view schema 3 (and the index's schema 2) shipped: a self-join of json_tree,
#: quadratic in the document. The reference the new view must agree with, row for row.
OLD_VIEW = """
CREATE VIEW old_leaves AS
SELECT DISTINCT r.uid AS run_uid,
       CASE WHEN p.type = 'array' THEN p.key ELSE t.key END AS key,
       t.atom AS value
FROM runs AS r,
     json_tree(CASE WHEN json_valid(r.metadata) THEN r.metadata ELSE '{}' END) AS t
JOIN json_tree(CASE WHEN json_valid(r.metadata) THEN r.metadata ELSE '{}' END) AS p
     ON p.id = t.parent
WHERE t.type NOT IN ('object', 'array')
  AND typeof(CASE WHEN p.type = 'array' THEN p.key ELSE t.key END) = 'text';
"""

#: Generous: the linear view files 100,000 elements in about a second here; the old
#: join needed ~17 s for 10,000 and would need about half an hour for 100,000.
BOUND_S = 180.0

KINDS = ("beamtime", "index")


def migrated(kind: str) -> sqlite3.Connection:
    """An in-memory database of ``kind`` at the latest schema, with the old view beside."""
    conn = database_at_version(":memory:", kind, schema.latest_version(kind))
    conn.executescript(OLD_VIEW)
    if kind == "index":
        conn.execute("INSERT INTO researchers (name, root_path) VALUES ('A', '/a')")
        conn.execute("INSERT INTO beamtimes (researcher_id, label, db_path) VALUES (1, 'b', 'b')")
    return conn


def insert_run(conn: sqlite3.Connection, kind: str, uid: str, metadata: str) -> None:
    if kind == "beamtime":
        conn.execute("INSERT INTO runs (uid, plan_name, time_start, metadata) "
                     "VALUES (?, 'p', 1.0, ?)", (uid, metadata))
    else:
        conn.execute("INSERT INTO runs (uid, beamtime_id, plan_name, metadata) "
                     "VALUES (?, 1, 'p', ?)", (uid, metadata))


def rows(conn: sqlite3.Connection, source: str) -> list[tuple[Any, ...]]:
    """Every filed row with the type of its value, in one order (a float by its repr)."""
    found = conn.execute(f"SELECT run_uid, key, typeof(value), value FROM {source}").fetchall()
    return sorted(found, key=lambda r: (r[0], r[1], r[2], repr(r[3])))


def assert_same_rows(kind: str, documents: list[str]) -> None:
    conn = migrated(kind)
    try:
        for i, text in enumerate(documents):
            insert_run(conn, kind, f"run{i}", text)
        old = rows(conn, "old_leaves")
        assert rows(conn, "run_metadata_leaves") == old
        assert rows(conn, "run_metadata") == old  # what the triggers filed
    finally:
        conn.close()


ODD_KEYS = ["a", "a.b", "a[0]", "[", "]", "x]y[", 'q"k', "$", "", "é", "日本", "0", "1",
            "tags", "a\\b", "a b", "\u2028", "$float", "$bytes"]
scalars = (st.none() | st.booleans() | st.integers() | st.integers(-3, 3)
           | st.floats() | st.sampled_from([0.0, -0.0, 1.0, 2.0, 1e300])
           | st.text(max_size=8) | st.sampled_from(["1", "true", "null", ""]))
keys = st.sampled_from(ODD_KEYS) | st.text(max_size=6)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30)
documents = st.lists(st.dictionaries(keys, json_values, max_size=6) | json_values,
                     min_size=1, max_size=4)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=documents, ascii_only=st.booleans())
def test_the_linear_view_files_the_same_rows_as_the_schema_3_join(
        kind: str, docs: list[Any], ascii_only: bool) -> None:
    texts = [jsoncodec.dumps(d) if ascii_only else json.dumps(jsoncodec.to_builtin(d),
                                                             ensure_ascii=False)
             for d in docs]
    assert_same_rows(kind, texts)


@pytest.mark.parametrize("kind", KINDS)
def test_odd_texts_file_the_same_rows_as_the_schema_3_join(kind: str) -> None:
    assert_same_rows(kind, [
        '{"a": [1], "a": {"b": [2, 2.0]}, "a": 3}',           # a key given twice
        '{"x": {"a": 1}, "a": 1.0, "l": [1.0, 1, true]}',     # equal values of two types
        '{"a.b": [1], "a": {"b": [2]}, "a[0]": [[3]], "\\u0061": [4]}',
        '{"k": [[1, [2]], {"k2": [5]}], "e": [], "o": {}}',   # lists of lists, empty ones
        '[1, {"a": 2}, [3]]', "5", '"text"', "null", "not json {", "",
        '{"big": [18446744073709551616, -9223372036854775809, 1e400]}',
    ])


@pytest.mark.parametrize("kind", KINDS)
def test_filing_one_run_reads_that_run_only(kind: str) -> None:
    # The triggers select the view's rows of NEW.uid: the uid must reach the runs table
    # through the window functions, or each insert would file every run again.
    conn = migrated(kind)
    try:
        plan = "\n".join(r[-1] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM run_metadata_leaves WHERE run_uid = ?", ("u",)))
    finally:
        conn.close()
    assert "SEARCH r USING INDEX sqlite_autoindex_runs_1 (uid=?)" in plan
    assert "SCAN r" not in plan


def positions(n: int) -> list[float]:
    """A list_scan's positions: ``n`` distinct floats."""
    return [i * 0.001 + 0.5 for i in range(n)]


def store_start(db: str, n: int) -> str:
    with RunWriter(db, None) as writer:
        return writer.open_run("list_scan", metadata={
            "plan_name": "list_scan", "positions": positions(n), "operator": "ana"})


@pytest.mark.parametrize("n", [1_000, 100_000])
def test_a_start_with_a_long_list_is_stored_and_found_by_a_value_from_it(
        tmp_path: Path, n: int) -> None:
    db = tmp_path / "bt.db"
    uid, _peak = run_bounded(store_start, str(db), n, seconds=BOUND_S)
    with open_beamtime(db) as bt:
        assert [r.uid for r in bt.runs(where={"positions": positions(n)[n // 2]})] == [uid]
        assert [r.uid for r in bt.runs(where={"positions": -1.0})] == []
        assert len(bt[uid].start["positions"]) == n


def version_2_beamtime_with_long_lists(db: str, sizes: list[int]) -> list[str]:
    """A schema-2 beamtime (as releases before schema 3 wrote it) with one run per size."""
    conn = database_at_version(Path(db), "beamtime", 2)
    uids = []
    for i, n in enumerate(sizes):
        uid = uuid.uuid4().hex
        conn.execute("INSERT INTO runs (uid, plan_name, scan_id, time_start, metadata) "
                     "VALUES (?, 'list_scan', ?, ?, ?)",
                     (uid, i + 1, 1.7e9 + i, jsoncodec.dumps({"positions": positions(n),
                                                               "scan_id": i + 1})))
        uids.append(uid)
    conn.close()
    return uids


def upgrade(db: str, kind: str) -> int:
    conn = schema.connect(db, kind)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_version_2_beamtime_holding_100000_element_lists_is_upgraded_in_bounded_time(
        tmp_path: Path) -> None:
    db = tmp_path / "v2.db"
    uids = version_2_beamtime_with_long_lists(str(db), [1_000, 100_000])
    version, _peak = run_bounded(upgrade, str(db), "beamtime", seconds=BOUND_S)
    assert version == schema.latest_version("beamtime")
    with open_beamtime(db) as bt:
        assert [r.uid for r in bt.runs(where={"positions": positions(100_000)[-1]})] == [uids[1]]
        assert [r.uid for r in bt.runs(where={"positions": positions(10)[3]})] == uids[::-1]


def test_a_beamtime_made_with_the_quadratic_view_is_given_the_linear_one_and_keeps_its_rows(
        tmp_path: Path) -> None:
    db = tmp_path / "v4.db"
    conn = database_at_version(db, "beamtime", 4)
    # as a release before schema 5 left it: the self-join under the view's name
    conn.executescript("DROP VIEW run_metadata_leaves;"
                       + OLD_VIEW.replace("old_leaves", "run_metadata_leaves"))
    insert_run(conn, "beamtime", "old", jsoncodec.dumps({"tags": ["a", "b"], "s": {"f": 1}}))
    before = rows(conn, "run_metadata")
    conn.close()
    upgrade(str(db), "beamtime")
    conn = sqlite3.connect(db)
    try:
        assert rows(conn, "run_metadata") == before
        view = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'run_metadata_leaves'"
                            ).fetchone()[0]
        assert "json_tree" in view and "JOIN" not in view.upper()
    finally:
        conn.close()
    uid, _peak = run_bounded(store_start, str(db), 100_000, seconds=BOUND_S)
    with open_beamtime(db) as bt:
        assert [r.uid for r in bt.runs(where={"positions": positions(100_000)[7]})] == [uid]
        assert [r.uid for r in bt.runs(tag="b")] == ["old"]
