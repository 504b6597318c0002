from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from resonance_callback import (
    IndexEntryError,
    IndexLookupError,
    IndexWriter,
    NotABeamtimeError,
    SchemaVersionError,
    StorageError,
    search,
)
from resonance_callback import _sqlite as schema
from resonance_callback.index._model import RunSummary

from ..beamtime_fixture import synthetic_beamtime
from .conftest import index_rows as rows


@pytest.fixture
def writer(index_target: Path | str):
    """A writer of a new index, on each engine."""
    with IndexWriter(index_target) as w:
        yield w


def test_ensure_schema_creates_an_index_database(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    IndexWriter(path).ensure_schema()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_IDS["index"]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.latest_version("index")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"researchers", "beamtimes", "runs", "run_tags"} <= tables


def test_index_writer_refuses_a_beamtime_database(tmp_path: Path) -> None:
    synthetic_beamtime(tmp_path / "bt.db", 1)
    with pytest.raises(NotABeamtimeError, match="bt.db"):
        IndexWriter(tmp_path / "bt.db").ensure_schema()


def test_index_in_a_missing_directory_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="nowhere"):
        IndexWriter(tmp_path / "nowhere" / "index.db").ensure_schema()


def test_register_researcher_returns_the_same_id_for_the_same_name_and_root(
    writer: IndexWriter, tmp_path: Path
) -> None:
    first = writer.register_researcher("Alice", tmp_path / "alice")
    again = writer.register_researcher("Alice", str(tmp_path / "alice"))
    other_root = writer.register_researcher("Alice", tmp_path / "elsewhere")
    assert first == again != other_root


def test_register_researcher_keeps_details_not_given_again(
    writer: IndexWriter, tmp_path: Path
) -> None:
    rid = writer.register_researcher("Alice", tmp_path, email="a@x.org", orcid="0000-1")
    writer.register_researcher("Alice", tmp_path, affiliation="ALS", email="alice@x.org")
    assert rows(writer.path, "SELECT email, orcid, affiliation FROM researchers") == [
        ("alice@x.org", "0000-1", "ALS")
    ]
    assert writer.find_researcher("Alice") == rid


def test_beamtime_path_is_stored_relative_to_the_researcher_root(
    writer: IndexWriter, tmp_path: Path
) -> None:
    rid = writer.register_researcher("Alice", tmp_path / "alice")
    writer.register_beamtime(rid, "march", tmp_path / "alice" / "2026-03" / "bt.db")
    assert rows(writer.path, "SELECT db_path FROM beamtimes") == [("2026-03/bt.db",)]
    [entry] = writer.beamtimes()
    assert entry.db_path == tmp_path / "alice" / "2026-03" / "bt.db"


def test_register_beamtime_again_keeps_its_id_and_earliest_start(
    writer: IndexWriter, tmp_path: Path
) -> None:
    rid = writer.register_researcher("Alice", tmp_path)
    first = writer.register_beamtime(rid, "march", tmp_path / "bt.db", time_start=200.0)
    again = writer.register_beamtime(rid, "March 2026", tmp_path / "bt.db", time_start=100.0)
    later = writer.register_beamtime(rid, "March 2026", tmp_path / "bt.db", time_start=300.0)
    assert first == again == later
    assert rows(writer.path, "SELECT label, time_start FROM beamtimes") == [("March 2026", 100.0)]


def test_beamtime_outside_the_researcher_root_is_refused(
    writer: IndexWriter, tmp_path: Path
) -> None:
    rid = writer.register_researcher("Alice", tmp_path / "alice")
    with pytest.raises(IndexEntryError, match=r"bob/bt\.db is not under .*alice"):
        writer.register_beamtime(rid, "x", tmp_path / "bob" / "bt.db")


def test_register_beamtime_of_unknown_researcher_names_the_id(writer: IndexWriter) -> None:
    with pytest.raises(IndexLookupError, match="no researcher with id 42"):
        writer.register_beamtime(42, "x", "bt.db")


def _registered(writer: IndexWriter, root: Path) -> tuple[int, int]:
    rid = writer.register_researcher("Alice", root)
    return rid, writer.register_beamtime(rid, "march", root / "bt.db")


def test_index_run_again_updates_and_keeps_values_left_out(
    writer: IndexWriter, tmp_path: Path
) -> None:
    rid, bid = _registered(writer, tmp_path)
    writer.index_run("u1", rid, bid, "count", sample_name="PS", time_start=10.0,
                     tags=["a", "b", "a"], scan_id=7, metadata={"proposal": 1})
    writer.index_run("u1", rid, bid, "scan", tags=["c"])
    assert rows(writer.path, "SELECT plan_name, sample_name, scan_id, time_start, metadata "
                             "FROM runs") == [("scan", "PS", 7, 10.0, '{"proposal":1}')]
    assert rows(writer.path, "SELECT tag FROM run_tags") == [("c",)]


def test_index_run_in_another_researchers_beamtime_is_refused(
    writer: IndexWriter, tmp_path: Path
) -> None:
    _, bid = _registered(writer, tmp_path)
    bob = writer.register_researcher("Bob", tmp_path)
    with pytest.raises(IndexEntryError, match=f"beamtime {bid} belongs to researcher"):
        writer.index_run("u1", bob, bid, "count")


def test_index_run_in_unknown_beamtime_is_a_lookup_error(
    writer: IndexWriter, tmp_path: Path
) -> None:
    rid, _ = _registered(writer, tmp_path)
    with pytest.raises(IndexLookupError, match="no beamtime with id 99"):
        writer.index_run("u1", rid, 99, "count")


def test_finish_run_records_the_end(writer: IndexWriter, tmp_path: Path) -> None:
    rid, bid = _registered(writer, tmp_path)
    writer.index_run("u1", rid, bid, "count", time_start=1.0)
    writer.finish_run("u1", time_stop=2.0, exit_status="aborted", num_events={"primary": 3})
    assert rows(writer.path, "SELECT time_stop, exit_status, num_events FROM runs") == [
        (2.0, "aborted", '{"primary":3}')
    ]


def test_finish_run_of_a_run_never_indexed_names_the_uid(
    writer: IndexWriter, tmp_path: Path
) -> None:
    with pytest.raises(IndexLookupError, match="run u-missing is not in index .*reindex"):
        writer.finish_run("u-missing", time_stop=2.0, exit_status="success", num_events={})


def test_finish_run_refuses_an_unknown_exit_status(writer: IndexWriter, tmp_path: Path) -> None:
    rid, bid = _registered(writer, tmp_path)
    writer.index_run("u1", rid, bid, "count")
    with pytest.raises(IndexEntryError, match="run u1: exit status 'abort'"):
        writer.finish_run("u1", time_stop=2.0, exit_status="abort", num_events={})


def test_open_summary_never_reopens_a_finished_run(writer: IndexWriter, tmp_path: Path) -> None:
    _, bid = _registered(writer, tmp_path)
    start = {"uid": "u1", "time": 1.0, "plan_name": "count", "scan_id": 1}
    stop = {"run_start": "u1", "time": 2.0, "exit_status": "success", "num_events": {"p": 1}}
    writer.record_run(bid, RunSummary.from_documents(start, "PS", stop))
    writer.record_run(bid, RunSummary.from_documents(start, "PS"))  # a stale, open copy
    assert rows(writer.path, "SELECT time_stop, exit_status FROM runs") == [(2.0, "success")]


def test_stop_document_exit_statuses_are_spelled_as_in_the_databases() -> None:
    start = {"uid": "u1", "time": 1.0}
    for given, stored in (("success", "success"), ("abort", "aborted"), ("fail", "failed")):
        stop = {"time": 2.0, "exit_status": given, "num_events": {}}
        assert RunSummary.from_documents(start, None, stop).exit_status == stored


def test_tags_come_from_the_start_documents_tags_key() -> None:
    def tags(value):
        return RunSummary.from_documents({"uid": "u", "tags": value}, None).tags

    assert tags(["b", "a", "b"]) == ("a", "b")
    assert tags("single") == ("single",)
    assert tags(None) == ()
    assert tags({"not": "tags"}) == ()


def test_remove_beamtime_by_path_removes_its_runs(writer: IndexWriter, tmp_path: Path) -> None:
    rid, bid = _registered(writer, tmp_path)
    other = writer.register_beamtime(rid, "april", tmp_path / "april.db")
    writer.index_run("u1", rid, bid, "count", tags=["t"])
    writer.index_run("u2", rid, bid, "count")
    writer.index_run("u3", rid, other, "count")
    assert writer.remove_beamtime(tmp_path / "bt.db") == 2
    assert rows(writer.path, "SELECT uid FROM runs") == [("u3",)]
    assert rows(writer.path, "SELECT count(*) FROM run_tags") == [(0,)]
    assert [b.label for b in writer.beamtimes()] == ["april"]


def test_remove_beamtime_by_id(writer: IndexWriter, tmp_path: Path) -> None:
    rid, bid = _registered(writer, tmp_path)
    writer.index_run("u1", rid, bid, "count")
    assert writer.remove_beamtime(bid) == 1
    assert writer.beamtimes() == []


def test_remove_unregistered_beamtime_names_the_path(writer: IndexWriter, tmp_path: Path) -> None:
    with pytest.raises(IndexLookupError, match="nope.db is not registered"):
        writer.remove_beamtime(tmp_path / "nope.db")


def test_move_researcher_onto_an_existing_registration_merges_them(
    writer: IndexWriter, tmp_path: Path
) -> None:
    old_root, new_root = tmp_path / "old", tmp_path / "new"
    old = writer.register_researcher("Alice", old_root, email="a@x.org")
    old_bt = writer.register_beamtime(old, "march", old_root / "m.db")
    old_only = writer.register_beamtime(old, "april", old_root / "a.db")
    writer.index_run("u1", old, old_bt, "count")
    writer.index_run("u2", old, old_only, "count")
    # The RunEngine on the new machine registered the moved tree on its own.
    new = writer.register_researcher("Alice", new_root)
    new_bt = writer.register_beamtime(new, "march", new_root / "m.db")
    writer.index_run("u3", new, new_bt, "count")

    assert writer.move_researcher(old, new_root) == new
    assert rows(writer.path, "SELECT id, email FROM researchers") == [(new, "a@x.org")]
    assert sorted(b.label for b in writer.beamtimes()) == ["april", "march"]
    assert {(r.uid, str(r.db_path)) for r in search(writer.path)} == {
        ("u1", str(new_root / "m.db")), ("u2", str(new_root / "a.db")),
        ("u3", str(new_root / "m.db")),
    }


def test_move_unknown_researcher_names_the_id(writer: IndexWriter, tmp_path: Path) -> None:
    with pytest.raises(IndexLookupError, match="no researcher with id 5"):
        writer.move_researcher(5, tmp_path)


def test_find_researcher_with_a_shared_name_asks_for_the_root(
    writer: IndexWriter, tmp_path: Path
) -> None:
    writer.register_researcher("Alice", tmp_path / "a")
    second = writer.register_researcher("Alice", tmp_path / "b")
    with pytest.raises(IndexLookupError, match="several researchers 'Alice'"):
        writer.find_researcher("Alice")
    assert writer.find_researcher("Alice", tmp_path / "b") == second


def test_writer_reopens_after_close(tmp_path: Path) -> None:
    writer = IndexWriter(tmp_path / "index.db")
    first = writer.register_researcher("Alice", tmp_path)
    writer.close()
    writer.close()
    assert writer.register_researcher("Alice", tmp_path) == first
    writer.close()


def test_ensure_schema_creates_a_postgres_index_at_the_latest_version(postgres_server) -> None:
    url = postgres_server.new_database()
    with IndexWriter(url) as writer:
        writer.ensure_schema()
    assert rows(url, "SELECT application, version FROM resonance_index") == [
        ("index", schema.latest_version("index"))]
    tables = {r[0] for r in rows(url, "SELECT tablename FROM pg_tables "
                                      "WHERE schemaname = 'public'")}
    assert {"researchers", "beamtimes", "runs", "run_tags", "run_metadata"} <= tables


def test_postgres_index_writer_refuses_another_applications_database(postgres_server) -> None:
    url = postgres_server.new_database()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id integer)")
    with pytest.raises(NotABeamtimeError, match="another application's tables"):
        IndexWriter(url).ensure_schema()


def test_postgres_index_of_a_newer_release_is_refused(postgres_server) -> None:
    url = postgres_server.new_database()
    with IndexWriter(url) as writer:
        writer.ensure_schema()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE resonance_index SET version = 999")
    with pytest.raises(SchemaVersionError, match="version 999, newer"):
        IndexWriter(url).ensure_schema()


def test_unreachable_postgres_index_is_a_storage_error_hiding_the_password(
    postgres_server,
) -> None:
    url = f"postgresql://alice:secret@127.0.0.1:{postgres_server.port + 1}/nowhere"
    hidden = "cannot open index postgresql://alice:\\*\\*\\*@"
    with pytest.raises(StorageError, match=hidden) as err:
        IndexWriter(url, busy_timeout=1).ensure_schema()
    assert "secret" not in str(err.value)
