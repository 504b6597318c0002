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
        assert len(catalog) == N
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
