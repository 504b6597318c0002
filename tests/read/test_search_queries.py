"""bt.search and IndexCatalog.search with Tiled's query types, chaining as Tiled's do."""

from __future__ import annotations

import pytest
from tiled.queries import (
    Comparison,
    Contains,
    Eq,
    FullText,
    In,
    Key,
    KeyPresent,
    Like,
    NotEq,
    NotIn,
    Regex,
    SpecsQuery,
)

from resonance_callback import open_beamtime
from resonance_callback.errors import FilterError
from resonance_callback.index import IndexCatalog


@pytest.fixture
def march(shared_site):
    with open_beamtime(shared_site.beamtimes["2026-03"]) as bt:
        yield bt


def plans(catalog) -> list[str]:
    return [catalog[uid].plan_name for uid in catalog]


def test_key_equality_on_the_start_document(march) -> None:
    found = march.search(Key("start.plan_name") == "scan")
    assert plans(found) == ["scan"]


def test_a_key_without_start_stop_or_summary_looks_into_the_start_document(march) -> None:
    assert list(march.search(Key("plan_name") == "scan")) == list(
        march.search(Key("start.plan_name") == "scan"))


def test_search_by_stored_sample_through_the_summary(march) -> None:
    found = march.search(Key("summary.sample") == "PS-1")
    assert sorted(plans(found)) == ["count", "scan"]
    assert all(run.sample.name == "PS-1" for run in found.values())


def test_searches_chain_and_keep_the_newest_first_order(march) -> None:
    counts = march.search(Key("plan_name") == "count")
    assert [r.uid for r in counts.values()] == [r.uid for r in march.runs(plan="count")]
    chained = counts.search(Key("summary.sample") == "PS-1")
    assert len(chained) == 1 and chained[next(iter(chained))].sample.name == "PS-1"


def test_in_contains_regex_like_and_not(march) -> None:
    assert len(march.search(In("start.proposal", [1001, 1002]))) == 2
    assert len(march.search(NotIn("start.proposal", [1001]))) == 1
    assert plans(march.search(Contains("start.tags", "edge"))) == ["scan"]
    assert len(march.search(Regex("start.proposal_text", "x"))) == 0
    assert len(march.search(Regex("summary.sample", "^ps-", case_sensitive=False))) == 2
    assert len(march.search(Like("summary.sample", "Si%"))) == 1
    assert len(march.search(NotEq("start.operator", "alice"))) == 2
    assert len(march.search(KeyPresent("start.operator"))) == 1


def test_comparisons_on_time_and_scan_id(march) -> None:
    runs = march.runs()  # newest first
    middle = runs[1].time_start
    assert [r.uid for r in march.search(Comparison("ge", "summary.timestamp", middle)).values()
            ] == [r.uid for r in runs[:2]]
    assert len(march.search(Key("start.time") < middle)) == 1
    assert len(march.search(Key("stop.exit_status") == "success")) == 3


def test_full_text_finds_words_anywhere_in_the_metadata(march) -> None:
    assert plans(march.search(FullText("edge"))) == ["scan"]
    assert len(march.search(FullText("nothing-like-it"))) == 0


def test_a_query_type_that_cannot_be_answered_is_a_filter_error(march) -> None:
    with pytest.raises(FilterError, match="SpecsQuery"):
        march.search(SpecsQuery(include=["BlueskyRun"]))


def test_a_uid_prefix_finds_a_run_among_the_results(march) -> None:
    found = march.search(Eq("start.plan_name", "scan"))
    uid = next(iter(found))
    assert found[uid[:8]].uid == uid


def test_master_index_is_searched_with_the_same_queries(shared_site) -> None:
    catalog = IndexCatalog(shared_site.index)
    assert len(catalog) == 8
    ps1 = catalog.search(Key("summary.sample") == "PS-1")
    assert sorted(run.beamtime for run in ps1.values()) == ["2026-03", "2026-03", "2026-04"]
    scans = ps1.search(Key("plan_name") == "scan")
    assert [run.plan_name for run in scans.values()] == ["scan"]
    assert len(catalog.search(Key("summary.researcher") == "Bob Jones")) == 2
    assert len(catalog.search(Key("stop.exit_status") == "failed")) == 1
    assert len(catalog.search(Contains("start.tags", "calibration"))) == 2


def test_index_search_agrees_with_each_beamtime_search(shared_site) -> None:
    query = In("start.proposal", [1001, 1002])
    from_index = set(IndexCatalog(shared_site.index).search(query))
    from_beamtimes = set()
    for db in shared_site.beamtimes.values():
        with open_beamtime(db) as bt:
            from_beamtimes |= set(bt.search(query))
    assert from_index == from_beamtimes and len(from_index) == 5
