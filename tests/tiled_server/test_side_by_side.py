"""The same documents into TiledWriter (Tiled's own catalog) and into our callback: same read()."""

from __future__ import annotations

import pytest
import xarray
from bluesky import RunEngine
from bluesky.plans import count, scan
from bluesky.preprocessors import SupplementalData
from bluesky_tiled_plugins import TiledWriter
from ophyd.sim import det, det1, det4, direct_img, motor
from tiled.client import from_uri
from tiled.server import SimpleTiledServer

from resonance_callback import RunWriterCallback

from ..external.test_detector_files import blob_in
from ..external.test_external import fly_plan
from .conftest import serving


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):
    """Runs written at once by TiledWriter and by the callback; yields both clients and uids."""
    base = tmp_path_factory.mktemp("side-by-side")
    files = base / "fly"
    theirs = SimpleTiledServer(base / "tiled", readable_storage=[files])
    try:
        tiled_client = from_uri(theirs.uri)
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
        finally:
            callback.close()
        # Tiled's authentication settings are global to the process: both servers share a key.
        with serving(base / "ours.db", api_key=theirs.api_key) as url:
            yield tiled_client, from_uri(url, api_key=theirs.api_key), uids
    finally:
        theirs.close()


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


