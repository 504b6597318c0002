"""The same documents into TiledWriter (Tiled's own catalog) and into our callback: same read()."""

from __future__ import annotations

import contextlib
import json

import pytest
import xarray
from bluesky import RunEngine
from bluesky.plans import count, scan
from bluesky.preprocessors import SupplementalData
from bluesky_tiled_plugins import TiledWriter
from ophyd.sim import det, det1, det4, direct_img, motor

from resonance_callback import RunWriterCallback

from ..external.test_detector_files import blob_in
from ..external.test_external import fly_plan
from .conftest import API_KEY, connected, serving, tiledwriter_catalog


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):
    """Runs written at once by TiledWriter and by the callback; yields both clients and uids."""
    base = tmp_path_factory.mktemp("side-by-side")
    files = base / "fly"
    with contextlib.ExitStack() as stack:
        their_url = stack.enter_context(tiledwriter_catalog(base / "tiled", [files]))
        tiled_client = stack.enter_context(connected(their_url, api_key=API_KEY))
        callback = RunWriterCallback(base / "ours.db")
        RE = RunEngine({}, context_managers=[])
        RE.subscribe(TiledWriter(tiled_client))
        RE.subscribe(callback)
        baseline = SupplementalData(baseline=[det1])
        RE.preprocessors.append(baseline)
        uids = {}
        try:
            (uids["scan"],) = RE(scan([det, direct_img], motor, -1, 1, 7), sample="Si")
            RE.preprocessors.remove(baseline)
            (uids["count"],) = RE(count([det4, det], 4), operator="ana")
            (uids["fly"],) = RE(fly_plan(blob_in(files), 3, 1))
            (uids["specs"],) = RE(count([det], 2), sample="Cu", tiled_specs=[
                "XASRun", {"name": "Custom", "version": "1.0"}])
        finally:
            callback.close()
        # Tiled's authentication settings are global to the process: both servers share a key.
        url = stack.enter_context(serving(base / "ours.db"))
        yield tiled_client, stack.enter_context(connected(url, api_key=API_KEY)), uids


@pytest.mark.parametrize(("run", "stream"), [
    ("scan", "primary"), ("scan", "baseline"), ("count", "primary"), ("fly", "primary")])
def test_read_gives_the_same_dataset_as_tiledwriters(both, run, stream) -> None:
    theirs, ours, uids = both
    expected = theirs[uids[run]][stream].read()
    got = ours[uids[run]][stream].read()
    if "time" not in expected.variables:
        # A fly scan has no event documents: TiledWriter has no event table and so no
        # time coordinate; ours is when the writer received each stream_datum.
        assert run == "fly" and got["time"].dims == ("time",)
        got = got.drop_vars("time")
    assert set(got.data_vars) == set(expected.data_vars)
    for name in expected.variables:
        assert got[name].dims == expected[name].dims, name
        assert got[name].dtype == expected[name].dtype, name
    xarray.testing.assert_equal(got, expected)


def test_the_same_run_metadata_start_and_stop(both) -> None:
    theirs, ours, uids = both
    for uid in uids.values():
        assert ours[uid].metadata["start"] == theirs[uid].metadata["start"]
        assert ours[uid].metadata["stop"] == theirs[uid].metadata["stop"]


def test_the_same_stream_names_and_node_specs(both) -> None:
    theirs, ours, uids = both
    for uid in uids.values():
        assert sorted(ours[uid]) == sorted(theirs[uid])
        assert ours[uid].specs == theirs[uid].specs
        for stream in theirs[uid]:
            assert ours[uid][stream].specs == theirs[uid][stream].specs


def test_the_same_search_results(both) -> None:
    from tiled.queries import Key

    theirs, ours, uids = both
    for query in (Key("start.sample") == "Si", Key("start.plan_name") == "count",
                  Key("start.operator") == "ana", Key("stop.exit_status") == "success"):
        assert list(ours.search(query)) == list(theirs.search(query))


def test_tiled_specs_in_the_start_are_the_runs_specs_as_tiledwriter_makes_them(both) -> None:
    theirs, ours, uids = both
    uid = uids["specs"]
    assert [s.name for s in theirs[uid].specs] == ["XASRun", "Custom", "BlueskyRun"]
    assert ours[uid].specs == theirs[uid].specs
    assert "tiled_specs" not in theirs[uid].metadata["start"]
    assert ours[uid].metadata["start"] == theirs[uid].metadata["start"]
    assert ours[uid]["primary"].read().equals(theirs[uid]["primary"].read())


def test_distinct_of_a_bare_key_counts_the_start_key_as_tiledwriters_catalog(both) -> None:
    theirs, ours, uids = both

    def values(client, key):
        return sorted(client.distinct(key, counts=True)["metadata"][key],
                      key=lambda item: json.dumps(item, sort_keys=True))

    expected = values(theirs, "start.sample")
    assert {item["value"] for item in expected} == {"Si", "Cu", None}
    assert values(ours, "sample") == expected
    assert values(ours, "start.sample") == expected
    assert values(ours, "plan_name") == values(theirs, "start.plan_name")
    assert values(ours, "stop.exit_status") == values(theirs, "stop.exit_status")


@pytest.mark.parametrize("run", ["scan", "count"])
def test_documents_hold_the_same_start_stop_and_event_values_as_tiledwriters(both, run) -> None:
    theirs, ours, uids = both
    expected = list(theirs[uids[run]].documents())
    got = list(ours[uids[run]].documents())
    for name in ("start", "stop"):
        assert [d for n, d in got if n == name] == [d for n, d in expected if n == name]

    def events(docs):
        streams = {d["uid"]: d["name"] for n, d in docs if n == "descriptor"}
        return {(streams[d["descriptor"]], d["seq_num"]): (d["time"], json.dumps(d["data"]))
                for n, d in docs if n == "event"}

    assert events(got) == events(expected)
    descriptors = {d["name"]: d for n, d in expected if n == "descriptor"}
    for n, d in got:
        if n == "descriptor":
            # TiledWriter adds the dtype_numpy it worked out; ours are the descriptors emitted.
            assert d["data_keys"] == without_dtype_numpy(descriptors[d["name"]]["data_keys"])
            assert d["configuration"] == without_dtype_numpy(
                descriptors[d["name"]]["configuration"])


def without_dtype_numpy(value):
    if isinstance(value, dict):
        return {k: without_dtype_numpy(v) for k, v in value.items() if k != "dtype_numpy"}
    return value
