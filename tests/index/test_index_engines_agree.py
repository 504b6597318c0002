"""The same runs indexed on SQLite and on PostgreSQL answer every search the same."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tiled.queries import Comparison, Contains, Eq, In, Key, NotEq, Regex

from resonance_callback import IndexWriter, search
from resonance_callback.index import IndexCatalog
from resonance_callback.index._model import RunSummary

from ..store.test_run_queries_schema import START_METADATA, start_documents

EXTRA = [  # (plan, sample, start keys): what a start document may hold, at the edges
    ("fly", "Zr", {"positions": [[1, 2], [3, 4]], "nested": [{"operator": "cy"}],
                   "long": "x" * 5_000, "zero": "a\x00b", "big": 2**70, "tiny": 1e-300,
                   "nan": math.nan, "flag": 1, "dict_list": [{"k": [5, 6]}]}),
    ("fly", "Zr-2", {"energy": 1.0, "operator": "ANA", "unicode": "Ü\u00e9\u4e2d",
                     "tags": ["x*y", "bulk"], "empty": {}, "none_list": [None, 3]}),
]


def fill(index: Path | str, root: Path, docs: list[dict]) -> None:
    rows = [(doc, plan, sample) for doc, (plan, _scan_id, sample, _extra)
            in zip(docs, START_METADATA, strict=True)]
    for i, (plan, sample, extra) in enumerate(EXTRA):
        rows.append(({"uid": f"extra-{i}", "time": 1.8e9 + i, "plan_name": plan, "scan_id": 10 + i,
                      **extra}, plan, sample))
    with IndexWriter(index) as writer:
        rid = writer.register_researcher("Alice", root)
        bid = writer.register_beamtime(rid, "bt", root / "bt.db")
        for n, (doc, plan, sample) in enumerate(rows):
            writer.record_run(bid, RunSummary(
                uid=doc["uid"], plan_name=plan, sample_name=sample, scan_id=doc["scan_id"],
                time_start=doc["time"], time_stop=doc["time"] + 1 if n % 2 else None,
                exit_status="success" if n % 2 else None,
                num_events={"primary": n} if n % 2 else {}, metadata=doc,
                tags=tuple(t for t in doc.get("tags", ()) if isinstance(t, str))))


SEARCHES = [
    {}, {"where": {"operator": "ana"}}, {"where": {"energy": "3"}}, {"where": {"energy": 3}},
    {"where": {"energy": 1}}, {"where": {"dry": True}}, {"where": {"dry": "true"}},
    {"where": {"note": None}}, {"where": {"note": "null"}},
    {"where": {"sample_info.formula": "Si"}},
    {"where": {"formula": "SiO2"}}, {"where": {"operator": "cy"}}, {"where": {"positions": 1}},
    {"where": {"positions": [1, 2]}}, {"where": {"k": 5}}, {"where": {"long": "x" * 5_000}},
    {"where": {"zero": "a\x00b"}}, {"where": {"big": 2**70}}, {"where": {"tiny": 1e-300}},
    {"where": {"flag": True}}, {"where": {"empty": {}}}, {"where": {"none_list": None}},
    {"where": {"unicode": "Ü\u00e9\u4e2d"}}, {"where": {"operator": "ana", "energy": 3}},
    {"sample": "Si*"}, {"sample": "Zr-?"}, {"sample": "[SZ]*"}, {"plan": "sc*"},
    {"plan": "fly"}, {"researcher": "Al*"}, {"researcher": "Bob"}, {"tag": "bulk"},
    {"tag": "x*"}, {"tag": "x[*]y"}, {"exit_status": "open"}, {"exit_status": "success"},
    {"since": 1.7e9 + 1, "until": 1.8e9 + 1}, {"scan_id": 11}, {"sample": "Si*", "plan": "scan"},
]

QUERIES = [
    Key("operator") == "ana", Eq("energy", 3), NotEq("operator", "ana"),
    In("energy", [3, "3"]), Comparison("gt", "energy", 2), Comparison("lt", "time", 1.75e9),
    Contains("operator", "ben"), Contains("tags", "bulk"), Regex("operator", "^a"),
    Key("summary.researcher") == "Alice", Key("stop.exit_status") == "success",
    Key("start.nested") == [{"operator": "cy"}],
]


@pytest.fixture(scope="module")
def both(postgres_server, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("engines")
    url = postgres_server.new_database()
    docs = start_documents()
    fill(root / "index.db", root, docs)
    fill(url, root, docs)
    return root / "index.db", url


@pytest.mark.parametrize("filters", SEARCHES, ids=[repr(f)[:60] for f in SEARCHES])
def test_search_finds_the_same_runs_on_both_engines(both, filters) -> None:
    sqlite_index, url = both
    assert search(url, **filters) == search(sqlite_index, **filters)


@pytest.mark.parametrize("query", QUERIES, ids=[repr(q)[:60] for q in QUERIES])
def test_index_catalog_queries_find_the_same_runs_on_both_engines(both, query) -> None:
    sqlite_index, url = both
    assert list(IndexCatalog(url).search(query)) == list(IndexCatalog(sqlite_index).search(query))


def test_a_nul_in_a_sample_name_is_stored_as_a_replacement_character_on_postgres(
    postgres_server, tmp_path: Path
) -> None:
    url = postgres_server.new_database()
    with IndexWriter(url) as writer:
        rid = writer.register_researcher("Alice", tmp_path)
        bid = writer.register_beamtime(rid, "bt", tmp_path / "bt.db")
        writer.index_run("r1", rid, bid, "count", sample_name="Si\x00O2", tags=["a\x00"])
    [run] = search(url, sample="Si\x00O2")
    assert (run.sample_name, run.tags) == ("Si\ufffdO2", ("a\ufffd",))
