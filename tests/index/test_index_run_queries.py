"""Index schema 2: searches by start-document value read an index; a schema-1 index upgrades."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from resonance_callback import IndexWriter, jsoncodec, search
from resonance_callback._sqlite import latest_version
from resonance_callback.index._model import RunSummary

from ..store.test_run_queries_schema import START_METADATA, database_at_version, start_documents


def version_1_index(path: Path, docs: list[dict]) -> None:
    """A schema-1 master index holding the runs of START_METADATA in one beamtime."""
    conn = database_at_version(path, "index", 1)
    conn.execute("INSERT INTO researchers (name, root_path) VALUES ('Alice', '/data/alice')")
    conn.execute("INSERT INTO beamtimes (researcher_id, label, db_path) VALUES (1, 'bt', 'bt.db')")
    for doc, (plan, scan_id, sample, _extra) in zip(docs, START_METADATA, strict=True):
        conn.execute("INSERT INTO runs (uid, beamtime_id, plan_name, sample_name, scan_id, "
                     "time_start, metadata) VALUES (?, 1, ?, ?, ?, ?, ?)",
                     (doc["uid"], plan, sample, scan_id, doc["time"], jsoncodec.dumps(doc)))
    conn.close()


def test_a_version_1_index_is_upgraded_in_place_and_searches_the_same(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    docs = start_documents()
    version_1_index(path, docs)
    queries = [{"where": {"operator": "ana"}}, {"where": {"energy": "3"}},
               {"where": {"sample_info.formula": "SiO2"}}, {"scan_id": 3}, {}]
    before = [[r.uid for r in search(path, **q)] for q in queries]
    assert before[0] == [docs[2]["uid"], docs[0]["uid"]]

    with IndexWriter(path) as writer:
        writer.ensure_schema()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_version("index")
        assert conn.execute("SELECT count(*) FROM run_metadata WHERE key = 'operator'"
                            ).fetchone()[0] == 4
        plan = "\n".join(r[-1] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT uid FROM runs r WHERE r.uid IN "
            "(SELECT m.run_uid FROM run_metadata m WHERE m.key = ? AND m.value IN (?))",
            ("operator", "ana")))
        assert "run_metadata_key_value" in plan
    finally:
        conn.close()
    assert [[r.uid for r in search(path, **q)] for q in queries] == before


def test_removing_a_beamtime_from_the_index_removes_its_run_metadata(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    with IndexWriter(path) as writer:
        researcher = writer.register_researcher("Alice", tmp_path)
        beamtime = writer.register_beamtime(researcher, "bt", tmp_path / "bt.db")
        summary = RunSummary(uid="r1", plan_name="count", sample_name=None, scan_id=1,
                             time_start=1.0, metadata={"operator": "ana"})
        writer.record_run(beamtime, summary)
        assert [r.uid for r in search(path, where={"operator": "ana"})] == ["r1"]
        writer.remove_beamtime(beamtime)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM run_metadata").fetchone() == (0,)
    finally:
        conn.close()
