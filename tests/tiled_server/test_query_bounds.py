"""Searching takes time linear in what is searched, and a search never stalls other clients."""

from __future__ import annotations

import concurrent.futures
import sys

import httpx
import pytest
from tiled.queries import FullText, Like, Regex

from resonance_callback import open_beamtime
from resonance_callback.store import metadata_matches

from .conftest import API_KEY

KEY = {"Authorization": f"Apikey {API_KEY}"}
BACKTRACKING = Regex("note", "(a+)+$")  # 2**40 steps on "a" * 40 + "!" in Python's re
MANY_WILDCARDS = Like("note", "%a%a%a%a%a%a%a%a%a%a%a%a%b")  # ~40**12 steps as .*a.*a...


def _search(url: str, query, path: str = "good") -> httpx.Response:
    params = {f"filter[{name}][condition][{field}]": value for name, (field, value) in [
        (type(query).__name__.lower(), item) for item in query.encode().items()]}
    return httpx.get(f"{url.rstrip('/')}/api/v1/search/{path}", params=params, headers=KEY,
                     timeout=120)


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entry["id"] for entry in response.json()["data"]]


def test_a_backtracking_regex_answers_at_once_and_correctly(site, site_url) -> None:
    assert _ids(_search(site_url, BACKTRACKING)) == []
    assert _ids(_search(site_url, Regex("note", "^(a+)+!$"))) == [site.backtracks]


def test_a_like_pattern_of_many_wildcards_answers_at_once_and_correctly(site, site_url) -> None:
    assert _ids(_search(site_url, MANY_WILDCARDS)) == []
    assert _ids(_search(site_url, Like("note", "%a%a%a%!"))) == [site.backtracks]


def test_a_simple_request_is_served_while_a_hostile_search_runs(site, site_url) -> None:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        searches = [pool.submit(_search, site_url, q) for q in (BACKTRACKING, MANY_WILDCARDS)]
        simple = httpx.get(site_url.rstrip("/") + f"/api/v1/metadata/good/{site.plain}",
                           headers=KEY, timeout=30)
        assert simple.status_code == 200
        assert [_ids(s.result(timeout=120)) for s in searches] == [[], []]


def test_a_pattern_the_linear_engine_cannot_run_is_a_400_naming_it(site_url) -> None:
    got = _search(site_url, Regex("note", r"(a)\1"))
    assert got.status_code == 400
    detail = got.json()["detail"]
    assert repr(r"(a)\1") in detail and "RE2" in detail


def test_a_search_in_python_with_a_backtracking_regex_returns_at_once(site) -> None:
    with open_beamtime(site.good) as bt:
        assert len(bt.search(BACKTRACKING)) == 0
        assert list(bt.search(Regex("note", "^(a+)+!$"))) == [site.backtracks]


@pytest.mark.parametrize("query", [Regex("note", "a" * 10_001), Regex("note", "(a)(?=b)")])
def test_a_regex_refused_by_the_evaluator_raises_one_error_naming_the_key(site, query) -> None:
    with open_beamtime(site.good) as bt, pytest.raises(ValueError, match="note"):
        bt.search(query)


def test_a_value_with_a_lone_surrogate_is_searched_not_raised() -> None:
    metadata = {"start": {"note": "x\ud800a"}}
    assert metadata_matches(Regex("note", "a$"), metadata)
    assert metadata_matches(Like("note", "x%a"), metadata)
    with pytest.raises(ValueError, match="note"):
        metadata_matches(Regex("note", "\ud800"), metadata)


def test_full_text_finds_a_word_nested_deeper_than_the_recursion_limit() -> None:
    deep: object = "gold"
    for _ in range(sys.getrecursionlimit() + 100):
        deep = [deep]
    assert metadata_matches(FullText("gold"), {"start": {"deep": deep}})


def test_a_search_sorted_newest_first_and_its_last_run_read_over_http(site, site_url,
                                                                      open_client) -> None:
    found = open_client(site_url, api_key=API_KEY)["good"].search(Regex("note", "a"))
    assert list(found) == [site.backtracks, site.plain]
    assert list(found.sort(("_", -1))) == [site.plain, site.backtracks]
    assert found[-1].metadata["start"]["note"] == "plain"
