"""Runs served by our Tiled server read with Tiled's client and bluesky-tiled-plugins over HTTP."""

from __future__ import annotations

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky_tiled_plugins.clients.bluesky_event_stream import BlueskyEventStreamV3
from bluesky_tiled_plugins.clients.bluesky_run import BlueskyRunV3
from tiled.client.container import Container
from tiled.queries import Comparison, Key

from resonance_callback import RunWriterCallback, open_beamtime
from resonance_callback.read._columns import distinct_dims

from ..rich_beamtime import write_scan
from .conftest import API_KEY, serving


def test_runs_are_bluesky_runs_of_spec_3_with_start_and_stop(client, rich) -> None:
    run = client[rich.scan]
    assert isinstance(run, BlueskyRunV3)
    assert {"name": "BlueskyRun", "version": "3.0"} in [
        {"name": s.name, "version": s.version} for s in run.specs]
    with open_beamtime(rich.db) as bt:
        assert run.metadata["start"] == bt[rich.scan].start
        assert run.metadata["stop"] == bt[rich.scan].stop
    assert sorted(run) == ["baseline", "primary"]


def test_streams_have_tiledwriters_layout(client, rich) -> None:
    stream = client[rich.scan]["primary"]
    assert isinstance(stream, BlueskyEventStreamV3)
    assert [s.name for s in stream.specs] == ["BlueskyEventStream", "composite"]
    parts = stream.base
    assert sorted(parts) == ["img", "internal"]
    assert parts["internal"].columns == ["seq_num", "time", "det", "motor", "motor_setpoint",
                                         "ts_det", "ts_motor", "ts_motor_setpoint"]
    assert parts["img"].shape == (5, 10, 10)
    assert parts["img"].dims == ("time", "dim_int_1", "dim_int_1")


@pytest.mark.parametrize("which", ["scan", "files", "fly"])
def test_every_value_and_frame_read_over_http_is_what_the_callback_stored(
        client, rich, which) -> None:
    uid = getattr(rich, which)
    with open_beamtime(rich.db) as bt:
        run = bt[uid]
        for stream in run.streams:
            ds = client[uid][stream].read()
            table = run.table(stream)
            np.testing.assert_array_equal(ds["time"].values, table["time"].to_numpy())
            for field in run.image_fields(stream):
                np.testing.assert_array_equal(ds[field].values, np.asarray(run.images(field,
                                                                                  stream)))
            for field in set(table.columns) - {"seq_num", "time"} - set(run.image_fields(stream)):
                # det-sum (a number of shape [1]) is a scalar per event in both
                np.testing.assert_array_equal(ds[field].values, np.array(table[field].tolist()))
            ours = run[stream].read().compute()
            assert set(ours.variables) == set(ds.variables)
            for name in ds.variables:  # served: TiledWriter's names; ours: a repeat named apart
                assert ours[name].dims == distinct_dims(ds[name].dims)
                assert ours[name].dtype == ds[name].dtype
                np.testing.assert_array_equal(ours[name].values, ds[name].values)


def test_the_first_frame_can_be_read_alone(client, rich) -> None:
    frames = client[rich.files]["primary"].base["img"]
    with open_beamtime(rich.db) as bt:
        np.testing.assert_array_equal(frames[0], bt[rich.files].images("img")[0])
    assert frames.dtype == np.uint16


def test_search_by_sample_plan_and_time_over_http(client, rich) -> None:
    assert list(client.search(Key("sample") == "gold foil")) == [rich.files, rich.fly]
    assert list(client.search(Key("plan_name") == "scan")) == [rich.scan]
    with open_beamtime(rich.db) as bt:
        t_files = bt[rich.files].time_start
    later = client.search(Comparison("ge", "start.time", t_files))
    assert list(later) == [rich.files, rich.fly]
    assert list(later.search(Key("operator") == "ben")) == [rich.files]
    assert client[-1].metadata["start"]["uid"] == rich.fly


def test_a_run_written_while_the_server_runs_appears_and_reads(tmp_path, open_client) -> None:
    db = tmp_path / "live.db"
    RE = RunEngine({}, context_managers=[])
    callback = RunWriterCallback(db)
    RE.subscribe(callback)
    try:
        first = write_scan(RE, points=2)
        with serving(db) as url:
            client = open_client(url, api_key=API_KEY)
            assert list(client) == [first]
            second = write_scan(RE, points=3)
            assert list(client) == [first, second]
            ds = client[second]["primary"].read()
            assert ds.sizes["time"] == 3
            with open_beamtime(db) as bt:
                stored = np.asarray(bt[second].images("img"))
            np.testing.assert_array_equal(ds["img"].values, stored)
    finally:
        callback.close()


def test_a_wrong_api_key_is_refused(served, open_client) -> None:
    import httpx

    with pytest.raises(httpx.HTTPStatusError, match="401"):
        open_client(served, api_key="wrong1")


def test_public_server_reads_without_a_key(rich, open_client) -> None:
    with serving(rich.db, api_key=None, public=True) as url:
        assert rich.scan in list(open_client(url))


def test_a_directory_serves_each_beamtime_as_a_container(rich, open_client) -> None:
    with serving(rich.db.parent) as url:
        client = open_client(url, api_key=API_KEY)
        assert list(client) == ["beamtime"]
        assert list(client["beamtime"]) == [rich.scan, rich.files, rich.fly]
        assert client["beamtime"][rich.scan]["baseline"].read().sizes["time"] == 2


def test_the_master_index_serves_every_indexed_run_and_searches_without_opening_them(
        shared_site, open_client) -> None:
    with serving(shared_site.index) as url:
        client = open_client(url, api_key=API_KEY)
        assert len(client) == 8
        # The bluesky client puts "start." before a key that names no document; the
        # summary is searched with the plain Container search.
        bob = Container.search(client, Key("summary.researcher") == "Bob Jones")
        assert len(bob) == 2
        some_uid = list(client.search(Key("plan_name") == "scan"))[0]
        assert client[some_uid]["primary"].read().sizes["time"] in {3, 4, 5}
