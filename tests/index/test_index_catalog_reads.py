"""IndexCatalog reads what it is asked for: a run is one row, a length a count, a page a page.

Pinned by the start documents decoded (a run's row carries its start document),
on both engines, over an index of a few hundred runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tiled.queries import Key, Regex

from resonance_callback.errors import StorageError
from resonance_callback.index import IndexCatalog, IndexWriter, search
from resonance_callback.store import metadata_matches

from .bulk import MARK, add_bulk, parsed_starts

N = 300


@pytest.fixture
def bulk(index_target: Path | str, tmp_path: Path) -> tuple[Path | str, list[str]]:
    """An index of N runs on each engine, and their uids oldest first."""
    return index_target, add_bulk(index_target, tmp_path, N)


def test_making_a_catalog_reads_no_run(bulk, monkeypatch) -> None:
    index, _ = bulk
    with parsed_starts(monkeypatch) as parsed:
        IndexCatalog(index)
    assert parsed == [0]


def test_one_run_and_its_metadata_are_read_alone(bulk, monkeypatch) -> None:
    index, uids = bulk
    with parsed_starts(monkeypatch) as parsed:
        catalog = IndexCatalog(index)
        run = catalog[uids[7]]
        metadata = catalog.metadata_of(uids[7])
    assert parsed == [2]
    assert run.uid == uids[7] and run.scan_id == 7
    assert metadata["start"][MARK] is True and metadata["summary"]["uid"] == uids[7]


def test_a_missing_uid_is_a_key_error_without_reading_the_runs(bulk, monkeypatch) -> None:
    index, _ = bulk
    with parsed_starts(monkeypatch) as parsed:
        catalog = IndexCatalog(index)
        assert "no-such-run" not in catalog
        with pytest.raises(KeyError):
            catalog["no-such-run"]
        with pytest.raises(KeyError):
            catalog.metadata_of("no-such-run")
    assert parsed == [0]


def test_the_length_is_counted_without_reading_the_runs(bulk, monkeypatch) -> None:
    index, _ = bulk
    with parsed_starts(monkeypatch) as parsed:
        catalog = IndexCatalog(index)
        assert len(catalog) == N and catalog.count(10) == 10
        assert len(catalog.search(Key("sample") == "S3")) == len(search(index, sample="S3"))
    assert parsed == [0]


def test_a_page_of_uids_is_read_with_limit_and_offset(bulk, monkeypatch) -> None:
    index, uids = bulk
    with parsed_starts(monkeypatch) as parsed:
        catalog = IndexCatalog(index)
        assert catalog.uids(10, 5) == uids[::-1][10:15]
        assert catalog.uids(10, 5, oldest_first=True) == uids[10:15]
        assert catalog.uids(N - 2, 10) == uids[1::-1]
    assert parsed == [0]


def test_iteration_reads_a_batch_of_runs_not_every_one(bulk, monkeypatch) -> None:
    from resonance_callback.index import _catalog_rows

    index, uids = bulk
    monkeypatch.setattr(_catalog_rows, "BATCH", 50)
    catalog = IndexCatalog(index).search(Regex("sample", "^S[0-6]$"))  # tested in Python
    with parsed_starts(monkeypatch) as parsed:
        first = next(iter(catalog))
    assert first == uids[-1] and 0 < parsed[0] <= 50
    assert list(catalog) == uids[::-1]


def test_searches_stack_and_read_nothing_until_asked(bulk, monkeypatch) -> None:
    index, _ = bulk
    with parsed_starts(monkeypatch) as parsed:
        found = IndexCatalog(index).search(Key("sample") == "S3").search(
            Regex("plan_name", "^co")).search(Key("proposal") == 1)
    assert parsed == [0]
    expected = [run.uid for run in search(index, sample="S3", where={"proposal": 1})]
    assert list(found) == expected and expected
    assert [run.uid for run in found.values()] == expected
    assert found.uids(1, 2) == expected[1:3]


def test_a_catalog_sees_the_runs_indexed_after_it_was_made(bulk, tmp_path) -> None:
    index, _ = bulk
    catalog = IndexCatalog(index)
    with IndexWriter(index) as writer:
        rid = writer.register_researcher("Late", tmp_path)
        bid = writer.register_beamtime(rid, "late", tmp_path / "late.db")
        writer.index_run("late-run", rid, bid, "count", time_start=2e9)
    assert len(catalog) == N + 1 and next(iter(catalog)) == "late-run"
    assert catalog["late-run"].researcher == "Late"


def test_a_catalog_of_a_missing_index_is_refused_when_made(tmp_path) -> None:
    with pytest.raises(StorageError, match="missing.db"):
        IndexCatalog(tmp_path / "missing" / "missing.db")


def test_an_equality_search_on_postgres_decides_only_the_runs_holding_that_value(
        postgres_server, tmp_path, monkeypatch) -> None:
    from resonance_callback.index import _catalog_rows

    url = postgres_server.new_database()
    add_bulk(url, tmp_path, N)
    decided: list[int] = []
    decide = _catalog_rows._decide

    def counting(rows, filters):
        decided.append(len(rows))
        return decide(rows, filters)

    monkeypatch.setattr(_catalog_rows, "_decide", counting)
    found = [uid for uid in IndexCatalog(url).search(Key("start.sample") == "S3")]
    assert sum(decided) == len(found)  # the candidates are the runs holding "S3" alone
    assert found == [run.uid for run in search(url, sample="S3")] and found


@pytest.mark.parametrize("value", [1, True, 1.0, "1", None])
def test_an_equality_search_finds_what_the_metadata_match(index_target, tmp_path,
                                                          value) -> None:
    stored = [1, True, 1.0, "1", None, [1], {"a": 1}, 2]
    with IndexWriter(index_target) as writer:
        rid = writer.register_researcher("Eq", tmp_path)
        bid = writer.register_beamtime(rid, "eq", tmp_path / "eq.db")
        for i, flag in enumerate(stored):
            writer.index_run(f"eq-{i}", rid, bid, "count", time_start=float(i),
                             metadata={"uid": f"eq-{i}", "flag": flag})
    catalog = IndexCatalog(index_target)
    query = Key("flag") == value
    expected = [uid for uid in catalog if metadata_matches(query, catalog.metadata_of(uid))]
    assert list(catalog.search(query)) == expected and expected
