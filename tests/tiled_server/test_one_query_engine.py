"""``--where`` and the Tiled server's search are answered by one query engine: same runs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from tiled.queries import Key

from resonance_callback.cli import main

from ..store.test_query_engine import site  # noqa: F401 (the fixture: a beamtime and its index)
from .conftest import API_KEY, connected, serving

#: ``--where`` pairs and the Tiled query meaning the same on these runs.
SAME = [
    (["operator=ana"], Key("operator") == "ana"),
    (["sample.formula=SiO2"], Key("sample.formula") == "SiO2"),
    (["uni=日本"], Key("start.uni") == "日本"),
    (["operator=nobody"], Key("operator") == "nobody"),
]


def _where(command: str, path, pairs: list[str]) -> list[str]:
    args = [command, str(path), "--json"]
    for pair in pairs:
        args += ["--where", pair]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return [run["uid"] for run in json.loads(result.stdout)]


@pytest.mark.parametrize("pairs, query", SAME, ids=[" ".join(p) for p, _ in SAME])
def test_runs_where_and_the_served_beamtimes_search_find_the_same_runs(
        site, pairs, query) -> None:  # noqa: F811
    with serving(site[0]) as url, connected(url, api_key=API_KEY) as client:
        served = list(client.search(query))
    assert served or pairs == ["operator=nobody"]
    assert sorted(served) == sorted(_where("runs", site[0], pairs))


@pytest.mark.parametrize("pairs, query", SAME, ids=[" ".join(p) for p, _ in SAME])
def test_search_where_and_the_served_indexs_search_find_the_same_runs(
        site, pairs, query) -> None:  # noqa: F811
    with serving(site[1]) as url, connected(url, api_key=API_KEY) as client:
        served = list(client.search(query))
    assert sorted(served) == sorted(_where("search", site[1], pairs))
    assert sorted(served) == sorted(_where("runs", site[0], pairs))
