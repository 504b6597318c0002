"""A run's ``tiled_specs`` and ``distinct`` over HTTP, beyond what TiledWriter's catalog shows."""

from __future__ import annotations

from bluesky import RunEngine
from bluesky.plans import count
from ophyd.sim import det

from resonance_callback import RunWriterCallback

from .conftest import API_KEY, serving


def test_tiled_specs_tiled_cannot_serve_are_left_out_and_the_run_is_served(tmp_path,
                                                                           open_client) -> None:
    RE = RunEngine({}, context_managers=[])
    with RunWriterCallback(tmp_path / "bt.db") as callback:
        RE.subscribe(callback)
        (uid,) = RE(count([det], 2), tiled_specs=[
            "XASRun", 7, "x" * 300, "XASRun", {"name": "Custom", "colour": "red"},
            {"name": "BlueskyRun"}, {"name": "Versioned", "version": "2"},
            *[f"S{i}" for i in range(30)]])
    with serving(tmp_path / "bt.db") as url:
        run = open_client(url, api_key=API_KEY)[uid]
        names = [s.name for s in run.specs]
        assert names == ["XASRun", "Versioned", *[f"S{i}" for i in range(17)], "BlueskyRun"]
        assert run.specs[1].version == "2" and run.specs[-1].version == "3.0"
        assert "tiled_specs" not in run.metadata["start"]
        assert run["primary"].read()["det"].shape == (2,)


def test_distinct_counts_list_values_and_keeps_the_key_as_asked(client, rich) -> None:
    got = client.distinct("tags", "operator", "summary.plan_name", counts=True)["metadata"]
    assert got["tags"] == [{"value": ["alignment"], "count": 1}, {"value": None, "count": 2}]
    assert sorted(got["operator"], key=str) == sorted(
        [{"value": "ana", "count": 1}, {"value": "ben", "count": 1},
         {"value": None, "count": 1}], key=str)
    assert sum(item["count"] for item in got["summary.plan_name"]) == 3
    assert {"scan", "count"} <= {item["value"] for item in got["summary.plan_name"]}


def test_distinct_over_the_master_index_counts_what_its_search_finds(shared_site,
                                                                     open_client) -> None:
    from tiled.queries import Key

    with serving(shared_site.index) as url:
        client = open_client(url, api_key=API_KEY)
        got = client.distinct("plan_name", counts=True)["metadata"]["plan_name"]
        assert sum(item["count"] for item in got) == len(client) == 8
        for item in got:
            assert len(client.search(Key("plan_name") == item["value"])) == item["count"]
