"""serve-tiled over a master index reads a page, a count or a run, not the whole index.

The index is the shared site's (eight runs in real beamtimes) plus a few hundred
index-only runs, in an SQLite file and on PostgreSQL; what the server reads is
pinned by the start documents of those it decodes (the server runs in this
process), never by time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from tiled.queries import Key

from resonance_callback.index import search

from ..cli.test_index_cli import add_all
from ..index.bulk import add_bulk, parsed_starts
from .conftest import API_KEY, serving

N = 300


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def big_index(request: pytest.FixtureRequest, shared_site,
              tmp_path_factory: pytest.TempPathFactory) -> Path | str:
    """The shared site's index and N index-only runs, older than the site's."""
    base = tmp_path_factory.mktemp("big-index")
    if request.param == "postgres":
        index: Path | str = request.getfixturevalue("postgres_server").new_database()
        add_all(shared_site, index)
    else:
        index = base / "index.db"
        source, copy = sqlite3.connect(shared_site.index), sqlite3.connect(index)
        try:
            source.backup(copy)
        finally:
            source.close()
            copy.close()
    add_bulk(index, base, N)
    return index


@pytest.fixture(scope="module")
def served_index(big_index: Path | str) -> Iterator[str]:
    with serving(big_index) as url:
        yield url


def _oldest_first(index: Path | str) -> list[str]:
    return [run.uid for run in reversed(search(index))]


def test_opening_one_run_reads_that_run_alone(big_index, served_index, open_client,
                                              monkeypatch) -> None:
    uid = search(big_index, plan="scan")[0].uid
    with parsed_starts(monkeypatch) as parsed:
        client = open_client(served_index, api_key=API_KEY)
        run = client[uid]
        assert run.metadata["start"]["uid"] == uid
    assert parsed == [0]
    assert run["primary"].read().sizes["time"] > 0


def test_a_page_of_runs_and_the_count_read_no_run(big_index, served_index, open_client,
                                                  monkeypatch) -> None:
    expected = _oldest_first(big_index)
    with parsed_starts(monkeypatch) as parsed:
        client = open_client(served_index, api_key=API_KEY)
        assert len(client) == N + 8
        assert client.keys()[:100] == expected[:100]
        assert client.keys()[150:160] == expected[150:160]
        assert client.keys()[-1] == expected[-1]
        assert client.keys().tail(3) == expected[-3:]
    assert parsed == [0]


def test_every_run_is_listed_oldest_first(big_index, served_index, open_client) -> None:
    client = open_client(served_index, api_key=API_KEY)
    assert list(client) == _oldest_first(big_index)


def test_a_search_reads_only_the_runs_it_finds(big_index, served_index, open_client,
                                               monkeypatch) -> None:
    s3 = [uid for uid in _oldest_first(big_index) if uid.startswith("bulk")][3::7]
    with parsed_starts(monkeypatch) as parsed:
        client = open_client(served_index, api_key=API_KEY)
        scans = client.search(Key("plan_name") == "scan")
        found = list(scans)
        assert len(scans) == len(found)
        samples = client.search(Key("sample") == "S3")
        assert samples.keys()[:5] == s3[:5] and len(samples) == len(s3)
    assert parsed == [0]
    assert found == [run.uid for run in reversed(search(big_index, plan="scan"))] and found
