"""Beamtime schema 3: run queries read indexes; a schema-2 beamtime is upgraded in place."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

import event_model
import pytest

from resonance_callback import _sqlite as schema
from resonance_callback import jsoncodec, open_beamtime
from resonance_callback.store import RunFilter, RunWriter, SampleMetadata
from resonance_callback.store._lookup import _ORDER, _SELECT

START_METADATA = [
    # (plan, scan_id, sample, extra start-document keys)
    ("count", 1, "SiO2", {"operator": "ana", "sample_info": {"formula": "SiO2"},
                          "tags": ["calib", "bulk"], "energy": 3, "dry": True, "note": None}),
    ("scan", 2, "Si", {"operator": "ben", "other": {"formula": "SiO2"},
                       "tags": ["bulk"], "energy": 3.5, "dry": False, "note": "x"}),
    ("scan", 3, "SiO2", {"operator": ["ana", "ben"], "sample_info": {"formula": "Si"},
                         "energy": "3", "dry": "true"}),
]


def start_documents() -> list[dict]:
    docs = []
    for i, (plan, scan_id, _sample, extra) in enumerate(START_METADATA):
        bundle = event_model.compose_run(metadata={"plan_name": plan, "scan_id": scan_id,
                                                   **extra})
        docs.append({**bundle.start_doc, "time": 1.7e9 + i})
    return docs


def sql_files(kind: str) -> list[str]:
    package = {"beamtime": "resonance_callback.store", "index": "resonance_callback.index"}[kind]
    folder = resources.files(package) / "sql"
    # rendered as the migration runner renders them (shared fragments included)
    return [schema.render(entry.read_text()) for entry in sorted(folder.iterdir(),
                                                                 key=lambda e: e.name)
            if entry.name.endswith(".sql")]


def database_at_version(path: Path, kind: str, version: int) -> sqlite3.Connection:
    """A database made by the first ``version`` migrations of ``kind``, as older releases did."""
    conn = sqlite3.connect(path, isolation_level=None)
    for number, sql in enumerate(sql_files(kind)[:version], start=1):
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA application_id = "
                           f"{schema.APPLICATION_IDS[kind]};\nPRAGMA user_version = {number};\n"
                           "COMMIT;")
    return conn


def version_2_beamtime(path: Path) -> list[dict]:
    """A schema-2 beamtime holding the runs of START_METADATA (rows as the writer stores them)."""
    docs = start_documents()
    conn = database_at_version(path, "beamtime", 2)
    for doc, (plan, scan_id, sample, _extra) in zip(docs, START_METADATA, strict=True):
        conn.execute("INSERT INTO samples (name) VALUES (?) ON CONFLICT DO NOTHING", (sample,))
        conn.execute(
            "INSERT INTO runs (uid, sample_id, plan_name, scan_id, time_start, metadata) "
            "VALUES (?, (SELECT id FROM samples WHERE name = ?), ?, ?, ?, ?)",
            (doc["uid"], sample, plan, scan_id, doc["time"], jsoncodec.dumps(doc)))
    conn.close()
    return docs


QUERIES = {
    "where operator=ana": {"where": {"operator": "ana"}},
    "where nested formula": {"where": {"sample_info.formula": "SiO2"}},
    "where energy=3 (number)": {"where": {"energy": 3}},
    "where energy='3' (string)": {"where": {"energy": "3"}},
    "where dry=True": {"where": {"dry": True}},
    "where note=None": {"where": {"note": None}},
    "tag bulk": {"tag": "bulk"},
    "tag wildcard": {"tag": "cal*"},
    "plan scan": {"plan": "scan"},
    "sample SiO2": {"sample": "SiO2"},
    "since": {"since": 1.7e9 + 1},
}


def answers(path: Path) -> dict[str, list]:
    with open_beamtime(path) as bt:
        out: dict[str, list] = {name: [r.uid for r in bt.runs(**kw)]
                                for name, kw in QUERIES.items()}
        out["bt[2]"] = [bt[2].uid]
        out["bt[-1]"] = [bt[-1].uid]
        out["all"] = [r.uid for r in bt.runs()]
    return out


def test_a_version_2_beamtime_is_upgraded_in_place_and_reads_the_same(tmp_path: Path) -> None:
    db = tmp_path / "v2.db"
    docs = version_2_beamtime(db)
    uid = [d["uid"] for d in docs]
    before = answers(db)  # read-only: not migrated, every start document tested
    assert before["where operator=ana"] == [uid[2], uid[0]]
    assert before["where nested formula"] == [uid[0]]
    assert before["where energy='3' (string)"] == [uid[2], uid[0]]
    assert before["tag bulk"] == [uid[1], uid[0]]

    conn = schema.connect(db)  # a writer's open upgrades it
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        assert version == schema.latest_version("beamtime")
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        filed = set(conn.execute("SELECT run_uid, key, value FROM run_metadata").fetchall())
    finally:
        conn.close()
    assert {(uid[0], "operator", "ana"), (uid[0], "formula", "SiO2"), (uid[0], "tags", "calib"),
            (uid[0], "dry", 1), (uid[0], "note", None), (uid[2], "operator", "ben"),
            (uid[2], "energy", "3")} <= filed
    assert answers(db) == before


def test_run_metadata_follows_inserts_updates_and_deletes_of_runs(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    with RunWriter(db, None) as writer:
        run = writer.open_run("count", metadata={"operator": "ana", "tags": ["a"]})
    conn = schema.connect(db)
    try:
        filed = "SELECT key, value FROM run_metadata WHERE run_uid = ? ORDER BY key, value"
        assert ("operator", "ana") in conn.execute(filed, (run,)).fetchall()
        conn.execute("UPDATE runs SET metadata = ? WHERE uid = ?",
                     (jsoncodec.dumps({"operator": "ben"}), run))
        assert conn.execute(filed, (run,)).fetchall() == [("operator", "ben")]
        conn.execute("DELETE FROM runs WHERE uid = ?", (run,))
        assert conn.execute(filed, (run,)).fetchall() == []
    finally:
        conn.close()


def test_a_leaf_name_shared_by_two_paths_matches_only_the_path_asked(tmp_path: Path) -> None:
    db = tmp_path / "v2.db"
    docs = version_2_beamtime(db)
    schema.connect(db).close()
    with open_beamtime(db) as bt:
        # run 1 files "formula"="SiO2" under other.formula, not sample_info.formula
        assert [r.uid for r in bt.runs(where={"sample_info.formula": "SiO2"})] == [
            docs[0]["uid"]]
        assert [r.uid for r in bt.runs(where={"other.formula": "SiO2"})] == [docs[1]["uid"]]


def plan_of(db: Path, filters: RunFilter) -> str:
    with open_beamtime(db) as bt:
        clause, params = filters.clause(bt._reader.filter_columns)
        rows = bt.query(f"EXPLAIN QUERY PLAN {_SELECT}{clause} {_ORDER}", params)
    return "\n".join(row[-1] for row in rows)


@pytest.fixture
def beamtime(tmp_path: Path) -> Path:
    db = tmp_path / "bt.db"
    with RunWriter(db, None) as writer:
        for plan, scan_id, sample, extra in START_METADATA:
            writer.open_run(plan, metadata={"scan_id": scan_id, **extra},
                            sample=SampleMetadata(name=sample))
    return db


def test_a_metadata_filter_searches_run_metadata_by_key_and_value(beamtime: Path) -> None:
    plan = plan_of(beamtime, RunFilter(where={"operator": "ana"}))
    assert "SEARCH m USING INDEX run_metadata_key_value (key=? AND value=?)" in plan
    assert "SCAN r" not in plan


def test_an_exact_tag_searches_run_metadata(beamtime: Path) -> None:
    assert "USING INDEX run_metadata_key_value" in plan_of(beamtime, RunFilter(tag="bulk"))


def test_scan_id_and_plan_filters_read_their_indexes(beamtime: Path) -> None:
    assert "USING INDEX runs_scan_id (scan_id=?)" in plan_of(beamtime, RunFilter(scan_id=2))
    assert "USING INDEX runs_plan (plan_name=?)" in plan_of(beamtime, RunFilter(plan="scan"))


def test_newest_first_is_read_from_an_index_without_sorting(beamtime: Path) -> None:
    plan = plan_of(beamtime, RunFilter())
    assert "USING INDEX runs_newest" in plan
    assert "TEMP B-TREE" not in plan


@pytest.mark.parametrize("kind", ["beamtime", "index"])
def test_a_new_database_migrated_at_once_has_the_schema_of_one_migrated_step_by_step(
        tmp_path: Path, kind: str) -> None:
    stepwise = tmp_path / "stepwise.db"
    database_at_version(stepwise, kind, 1).close()
    schema.connect(stepwise, kind).close()  # the later migrations, one transaction each
    new = tmp_path / "new.db"
    schema.connect(new, kind).close()  # all of them in one transaction
    listing = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    a, b = sqlite3.connect(stepwise), sqlite3.connect(new)
    try:
        for pragma in ("user_version", "application_id"):
            assert (a.execute(f"PRAGMA {pragma}").fetchone()
                    == b.execute(f"PRAGMA {pragma}").fetchone())
        assert b.execute("PRAGMA user_version").fetchone()[0] == schema.latest_version(kind)
        assert a.execute(listing).fetchall() == b.execute(listing).fetchall()
    finally:
        a.close()
        b.close()
