"""Tiled's live streaming over our server: subscriptions to runs being written.

A real RunEngine runs in a thread, its documents written by the real callback
into the beamtime the server (real HTTP, real websockets) serves; the
subscriptions are Tiled's and bluesky-tiled-plugins' own client API.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bluesky.plans as bp
import msgpack
import numpy as np
import pytest
from bluesky import RunEngine
from bluesky_tiled_plugins import BlueskyStreamUpdate, subscribe_to_streams
from ophyd.sim import SynGauss, motor
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from resonance_callback import RunWriterCallback, open_beamtime
from resonance_callback.tiled_server import LiveLimits, build_app

from ..external.test_detector_files import img_in
from .conftest import API_KEY, serving

KEY = {"Authorization": f"Apikey {API_KEY}"}
# A server that does not stream leaves Tiled's client waiting to connect: fail, not hang.
pytestmark = pytest.mark.timeout(180)


class Live:
    """A beamtime being written by the real callback, served over HTTP while it is."""

    def __init__(self, base: Path, url: str, callback: RunWriterCallback) -> None:
        self.base, self.url, self.callback = base, url, callback
        self.RE = RunEngine({}, context_managers=[])
        self.RE.subscribe(callback)

    def scan_in_thread(self, num: int = 3, delay: float = 0.6) -> threading.Thread:
        """Count a scalar detector and an image detector, ``delay`` s apart, in a thread."""
        det = SynGauss("det", motor, "motor", center=0, Imax=1, sigma=1)
        img = img_in(self.base / "npy")
        thread = threading.Thread(target=self.RE, args=(bp.count([det, img], num=num,
                                                                 delay=delay),))
        thread.start()
        return thread

    def ws(self, path: str, **params: Any) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"envelope_format": "msgpack",
                                                 **params}.items())
        return self.url.replace("http://", "ws://").rstrip("/") + (
            f"/api/v1/stream/single/{path}?{query}")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with RunWriterCallback(tmp_path / "bt.db", commit_every=1) as callback:
        with serving(tmp_path / "bt.db") as url:
            yield Live(tmp_path, url, callback)


def _updates(got: queue.Queue[BlueskyStreamUpdate], want: int) -> list[BlueskyStreamUpdate]:
    out = []
    while sum(len(u.data()) for u in out) < want:
        out.append(got.get(timeout=60))
    return out


def test_subscribe_to_streams_delivers_rows_and_frames_of_a_run_written_while_subscribed(
        live: Live, open_client) -> None:
    got: queue.Queue[BlueskyStreamUpdate] = queue.Queue()
    client = open_client(live.url, api_key=API_KEY)
    with subscribe_to_streams(client, got.put, streams={"primary": ("det", "img")}):
        thread = live.scan_in_thread()
        updates = _updates(got, want=6)  # 3 rows of det, 3 frames of img
        thread.join(timeout=60)
    (run,) = open_beamtime(live.base / "bt.db").runs()
    stored = run.primary.read()
    rows = [u for u in updates if u.data_keys == ("det",)]
    frames = [u for u in updates if u.data_keys == ("img",)]
    assert {u.run_uid for u in updates} == {run.uid}
    assert {u.stream_name for u in updates} == {"primary"}
    assert np.concatenate([u.data()["det"].to_numpy() for u in rows]).tolist() == (
        stored["det"].values.tolist())
    np.testing.assert_array_equal(np.concatenate([u.data() for u in frames]),
                                  stored["img"].values)
    assert all(u.sequence > 0 for u in updates)
    assert len(rows) > 1  # sent as the run was written, not once at its end


def test_a_run_subscription_ends_when_the_run_stops(live: Live, open_client) -> None:
    closed = threading.Event()
    created: queue.Queue[Any] = queue.Queue()
    client = open_client(live.url, api_key=API_KEY)
    root = client.subscribe()
    root.child_created.add_callback(created.put)
    root.start_in_thread()
    try:
        thread = live.scan_in_thread(num=2, delay=0.5)
        run_created = created.get(timeout=60)
        assert "BlueskyRun" in [spec.name for spec in run_created.specs]
        run_sub = client[run_created.key].subscribe()
        on_closed = lambda _sub: closed.set()  # noqa: E731  (kept referenced: weak callbacks)
        run_sub.stream_closed.add_callback(on_closed)
        run_sub.start_in_thread(0)
        thread.join(timeout=60)
        assert closed.wait(timeout=60)
        run_sub.disconnect()
    finally:
        root.disconnect()


def _messages(url: str, count: int) -> list[dict[str, Any]]:
    """The schema and up to ``count`` messages of one raw subscription (msgpack envelopes)."""
    out = []
    with connect(url, additional_headers=KEY, open_timeout=30) as socket:
        try:
            while len(out) < count + 1:
                out.append(msgpack.unpackb(socket.recv(timeout=30)))
        except ConnectionClosed:
            pass
    return out


def test_replay_from_start_gives_the_same_stable_sequence_numbers(live: Live) -> None:
    live.scan_in_thread(num=3, delay=0).join(timeout=60)
    (run,) = open_beamtime(live.base / "bt.db").runs()
    table = live.ws(f"{run.uid}/primary/internal", start=1)
    first, again = _messages(table, 5), _messages(table, 5)
    assert first[0]["type"] == "table-schema"
    assert [m["sequence"] for m in first[1:]] == [m["sequence"] for m in again[1:]] == [3]
    frames = _messages(live.ws(f"{run.uid}/primary/img", start=3), 5)
    assert frames[0]["type"] == "array-schema"
    (ref,) = frames[1:]
    assert (ref["type"], ref["sequence"], ref["patch"]["offset"][0], ref["patch"]["shape"][0],
            ref["shape"][0]) == ("array-ref", 3, 2, 1, 3)
    children = _messages(live.ws(run.uid, start=1), 5)
    assert [(m["type"], m["key"], m["sequence"]) for m in children[1:]] == [
        ("container-child-created", "primary", 1)]
    assert children[1]["structure_family"] == "container"
    assert {"name": "BlueskyEventStream", "version": "3.0"} in children[1]["specs"]


def test_subscriptions_past_the_limit_are_refused_and_a_closed_one_frees_its_place(
        tmp_path: Path, open_client) -> None:
    with RunWriterCallback(tmp_path / "bt.db", commit_every=1):
        app = build_app(tmp_path / "bt.db", api_key=API_KEY,
                        live=LiveLimits(poll_seconds=0.05, max_subscriptions=1))
        with serving(tmp_path, app=app) as url:
            root = url.replace("http://", "ws://").rstrip("/") + (
                "/api/v1/stream/single/?envelope_format=msgpack")
            with connect(root, additional_headers=KEY, open_timeout=30) as first:
                first.recv(timeout=30)  # the schema: the subscription is held
                with pytest.raises(InvalidStatus) as refused:
                    connect(root, additional_headers=KEY, open_timeout=30).close()
                assert refused.value.response.status_code == 503
            for _ in range(200):  # the closed socket's poller stops and frees its place
                try:
                    with connect(root, additional_headers=KEY, open_timeout=30) as again:
                        assert msgpack.unpackb(again.recv(timeout=30))["type"] == (
                            "container-schema")
                    break
                except InvalidStatus:
                    threading.Event().wait(0.05)
            else:
                pytest.fail("a closed subscription kept its place")
            assert open_client(url, api_key=API_KEY) is not None


def test_a_run_s_metadata_copy_works_over_http_its_access_tags_listed_as_none(
        live: Live, open_client) -> None:
    live.scan_in_thread(num=1, delay=0).join(timeout=60)
    (run,) = open_beamtime(live.base / "bt.db").runs()
    metadata, specs, access_tags = open_client(live.url, api_key=API_KEY)[run.uid].metadata_copy()
    assert (metadata["start"]["uid"], access_tags) == (run.uid, [])


def test_a_subscription_without_the_key_is_refused_401(live: Live) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(live.ws(""), open_timeout=30).close()
    assert refused.value.response.status_code == 401



def test_a_run_subscription_closes_only_after_its_streams_delivered_their_last_rows(
        live: Live, open_client) -> None:
    # The order TiledWriter's catalog gives (each row published as it is written): when
    # a client hears that the run is over, the rows are in its hands, even those of an
    # event written just before the stop, on a stream subscription made just before.
    got: queue.Queue[BlueskyStreamUpdate] = queue.Queue()
    closed = threading.Event()
    client = open_client(live.url, api_key=API_KEY)
    now, run_uid, desc_uid = time.time(), uuid.uuid4().hex, uuid.uuid4().hex
    with subscribe_to_streams(client, got.put, streams={"baseline": None}):
        live.callback("start", {"uid": run_uid, "time": now})
        live.callback("descriptor", {
            "uid": desc_uid, "run_start": run_uid, "name": "baseline", "time": now,
            "data_keys": {"x": {"dtype": "number", "shape": [], "source": "sim"}},
            "object_keys": {}, "configuration": {}, "hints": {}})
        live.callback("event", {"uid": uuid.uuid4().hex, "descriptor": desc_uid,
                                "seq_num": 1, "time": now, "data": {"x": 1.0},
                                "timestamps": {"x": now}, "filled": {}})
        run_sub = client[run_uid].subscribe()
        on_closed = lambda _sub: closed.set()  # noqa: E731  (kept referenced: weak callbacks)
        run_sub.stream_closed.add_callback(on_closed)
        run_sub.start_in_thread(0)
        live.callback("stop", {"uid": uuid.uuid4().hex, "run_start": run_uid, "time": now,
                               "exit_status": "success", "num_events": {"baseline": 1}})
        assert closed.wait(timeout=60)
        delivered = []
        while True:
            try:
                delivered.append(got.get_nowait())
            except queue.Empty:
                break
        run_sub.disconnect()
    assert [update.data().to_dict(orient="list") for update in delivered] == [{"x": [1.0]}]
