"""One query engine: Tiled's queries in SQL mean what they mean on the metadata in Python.

Every query below is answered three ways and must give the same runs in the same
order: ``bt.search`` (the engine's SQL over a beamtime, Python for the rest), the
master index's ``IndexCatalog.search`` (the same engine over the index), and the
Python meaning itself (``metadata_matches`` on each run's metadata).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tiled.queries import (
    Comparison,
    Contains,
    FullText,
    In,
    Key,
    KeyPresent,
    Like,
    NotEq,
    NotIn,
    Regex,
)

from resonance_callback import open_beamtime
from resonance_callback.index import IndexCatalog, IndexWriter, reindex
from resonance_callback.store import (
    BEAMTIME_COLUMNS,
    RunFilter,
    RunWriter,
    SampleMetadata,
    metadata_matches,
)

#: Start metadata of the runs, with the odd values SQL and Python could read apart.
STARTS = [
    {"operator": "ana", "n": 1, "f": 1.0, "flag": True, "none": None, "tags": ["a", "b"],
     "sample": {"formula": "SiO2", "t": 300}, "text": "Gold foil, thin"},
    {"operator": "bob", "n": 2, "f": 2.5, "flag": False, "tags": ["b"], "sample": "Si",
     "text": "silver"},
    {"operator": "ana", "n": "1", "f": 0, "flag": 1, "tags": [], "mixed": [1, "1", True, None],
     "d": {"a": 1, "b": [1, 2]}},
    {"operator": "Ana", "n": 3, "f": -1e300, "flag": None, "tags": "a", "big": 2**62,
     "list": [[1, 2], [3]], "uni": "日本"},
    {"n": 1.0, "f": True, "sample": {"formula": "Au"}, "tags": ["a"], "d": {"b": 2}},
    {"operator": "cat", "n": 10**20, "nan": math.nan, "inf": math.inf, "d": [{"a": 1}],
     "ninf": -math.inf, "raw": b"ab", "dollar": {"$x": 1}, "money": {"$x": 1, "y": 2}},
    {"inf": 5, "ninf": 5, "dollar": {"a": 1}, "raw": "ab"},
]
#: How each run ends (None: still open).
STOPS = ["success", "abort", None, "fail", "success", None, "success"]

QUERIES = [
    Key("operator") == "ana", Key("start.operator") == "ana", Key("operator") != "ana",
    Key("n") == 1, Key("n") == 1.0, Key("n") == "1", Key("n") == True,  # noqa: E712
    Key("flag") == 1, Key("flag") == True, Key("flag") == 0, Key("flag") == None,  # noqa: E711,E712
    Key("none") == None, NotEq("none", None), Key("n") != 1,  # noqa: E711
    Key("sample.formula") == "SiO2", Key("sample.t") == 300, Key("sample") == "Si",
    Key("d.a") == 1, Key("d.b") == 2, Key("d.b") == [1, 2], Key("tags") == ["b"],
    Key("big") == 2**62, Key("n") == 10**20, Key("uni") == "日本",
    In("operator", ["ana", "bob"]), In("n", [1, 3]), In("n", []), NotIn("n", [1, 3]),
    NotIn("operator", ["ana"]), In("flag", [None, False]), In("tags", [["b"], []]),
    Comparison("gt", "n", 1), Comparison("ge", "n", 1), Comparison("lt", "f", 1),
    Comparison("le", "f", 0), Comparison("lt", "operator", "b"), Comparison("gt", "n", "0"),
    Comparison("gt", "flag", 0), Comparison("lt", "f", -1e299),
    Contains("tags", "a"), Contains("tags", "b"), Contains("mixed", 1), Contains("mixed", None),
    Contains("mixed", "1"), Contains("d", "a"), Contains("d", 1), Contains("sample", "formula"),
    Contains("list", [3]), Contains("tags", True),
    KeyPresent("operator", True), KeyPresent("operator", False), KeyPresent("none", True),
    KeyPresent("sample.formula", True), KeyPresent("sample.formula", False),
    KeyPresent("stop.exit_status", True), KeyPresent("stop", True),
    Key("stop.exit_status") == "success", Key("stop.exit_status") != "success",
    In("stop.exit_status", ["abort", "fail"]),
    Key("summary.plan_name") == "count", Key("summary.exit_status") == None,  # noqa: E711
    Regex("operator", "^[Aa]na$"), Regex("text", "gold", case_sensitive=False),
    Like("operator", "a%"), FullText("gold"), FullText("SiO2"),
    Key("nan") == math.nan, Key("inf") == math.inf, Key("a..b") == 1,
    Comparison("gt", "inf", 1), Comparison("lt", "inf", 1), Comparison("ge", "ninf", 0),
    Comparison("le", "ninf", 0), Comparison("gt", "nan", 0), Comparison("lt", "nan", 0),
    Key("raw") == "ab", Comparison("gt", "raw", "a"), Contains("dollar", "$x"),
    Contains("dollar", "a"), Key("dollar.$x") == 1, KeyPresent("dollar.$x", True),
    Contains("money", "$x"), Key("money.y") == 2, Key("money.$x") == 1,
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("engine")
    db, index = root / "bt.db", root / "index.db"
    with RunWriter(db, SampleMetadata("film")) as writer:
        _write(writer)
    with IndexWriter(index) as iw:
        researcher = iw.register_researcher("Alice", root)
        iw.register_beamtime(researcher, "bt", db)
    reindex(index)
    return db, index


def _write(writer: RunWriter) -> None:
    for i, (start, stop) in enumerate(zip(STARTS, STOPS, strict=True)):
        uid = writer.open_run("count" if i % 2 else "scan", metadata=dict(start),
                              uid=f"run{i}", time=1000.0 + i)
        if stop is not None:
            status = {"abort": "aborted", "fail": "failed"}.get(stop, stop)
            writer.close_run(exit_status=status, uid=uid, time=1100.0 + i,
                             stop_document={"run_start": uid, "exit_status": stop,
                                            "time": 1100.0 + i, "uid": f"stop{i}"})


@pytest.mark.parametrize("query", QUERIES, ids=repr)
def test_a_beamtime_search_finds_the_runs_whose_metadata_match_in_python(site, query) -> None:
    with open_beamtime(site[0]) as bt:
        expected = [run.uid for run in bt.runs() if metadata_matches(query, run.metadata)]
        assert list(bt.search(query)) == expected


@pytest.mark.parametrize("query", QUERIES, ids=repr)
def test_an_index_search_finds_the_runs_whose_metadata_match_in_python(site, query) -> None:
    catalog = IndexCatalog(site[1])
    expected = [uid for uid in catalog if metadata_matches(query, catalog.metadata_of(uid))]
    assert list(catalog.search(query)) == expected


def test_sql_answers_the_queries_it_can_express_without_python() -> None:
    for query in (Key("operator") == "ana", In("n", [1, 3]), Comparison("gt", "n", 1),
                  Contains("tags", "a"), KeyPresent("stop.exit_status", True),
                  NotIn("operator", ["ana"])):
        filters = RunFilter(queries=(query,))
        assert filters.residual(BEAMTIME_COLUMNS) is None
        assert filters.clause(BEAMTIME_COLUMNS)[0]


def test_python_answers_regex_fulltext_and_summary_keys() -> None:
    for query in (Regex("operator", "a"), FullText("gold"), Key("summary.sample") == "film",
                  Key("d.b") == [1, 2]):
        filters = RunFilter(queries=(query,))
        assert filters.residual(BEAMTIME_COLUMNS) is not None
        assert filters.clause(BEAMTIME_COLUMNS)[0] == ""


def test_chained_searches_keep_the_runs_matching_both(site) -> None:
    with open_beamtime(site[0]) as bt:
        both = bt.search(Key("operator") == "ana").search(Regex("text", "Gold"))
        assert list(both) == ["run0"]
