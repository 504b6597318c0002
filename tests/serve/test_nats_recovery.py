"""``serve --nats`` after a crash: it starts from the position recorded with the last commit.

The service runs in this process (its :class:`Service` on a thread of its own)
against a real nats-server, so a test can see what recovery read and what was
acknowledged when; the documents are real event-model runs published by
bluesky-nats' own publisher.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from event_model import compose_run

from resonance_callback.serve import BeamtimeRouter, Service
from resonance_callback.serve._nats import NatsSource
from resonance_callback.serve._nats_pull import Puller

from .runs import publish_open_run, publish_run, rejected_in, runs_in
from .servers import run, stream_last_seq, wait_acknowledged


def _serve(source: NatsSource, db: Path, until: Callable[[], bool], timeout: float = 60.0
           ) -> Service:
    """Serve ``source`` into ``db`` on a thread until ``until()``; then stop it cleanly."""
    return _serve_service(Service(source, BeamtimeRouter(db), status_interval=0), until, timeout)


def _serve_service(service: Service, until: Callable[[], bool], timeout: float = 60.0
                   ) -> Service:
    """Run ``service`` on a thread until ``until()``; then stop it cleanly."""
    failure: list[BaseException] = []

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.05)
        stop.set()
        await task

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - raised in the test below
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout + 30)
    assert not thread.is_alive() and not failure, failure
    return service


def _acknowledged(url: str) -> Callable[[], bool]:
    def done() -> bool:
        try:
            wait_acknowledged(url, timeout=0.01)
        except TimeoutError:
            return False
        return True
    return done


def test_restart_reads_from_the_recorded_position_not_the_streams_first_message(
        tmp_path: Path, nats_server: Any, publisher: Any) -> None:
    for _ in range(3):
        publish_run(publisher, events=100)  # long done before the restart
    bundle, desc = publish_open_run(publisher, events=5)
    db = tmp_path / "served.db"
    _serve(NatsSource(nats_server.url, "bluesky"), db, _acknowledged(nats_server.url))
    for i in range(5, 10):
        publisher("event", desc.compose_event(data={"x": float(i)}, timestamps={"x": 1.0}))
    publisher("stop", bundle.compose_stop())

    again = NatsSource(nats_server.url, "bluesky")
    _serve(again, db, _acknowledged(nats_server.url))
    assert again.recovery_read == 2  # the open run's start and descriptor, by sequence
    assert runs_in(db)[bundle.start_doc["uid"]] == ("success", 10)
    assert len(runs_in(db)) == 4 and rejected_in(db) == []


class _CrashBeforeAck(NatsSource):
    """A source whose process dies once a commit returned, before acknowledging it."""

    def __init__(self, *args: Any, db: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.db = db
        self.committed_at_ack: list[int] = []

    async def ack(self, deliveries: list[Any]) -> None:
        with sqlite3.connect(f"{self.db.resolve().as_uri()}?mode=ro", uri=True) as conn:
            self.committed_at_ack.append(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def test_killed_after_commit_before_ack_is_redelivered_and_stored_once(
        tmp_path: Path, nats_server: Any, publisher: Any) -> None:
    db = tmp_path / "served.db"
    uid = publish_run(publisher, events=40)
    crashed = _CrashBeforeAck(nats_server.url, "bluesky", ack_wait=1.0, db=db)
    _serve(crashed, db, lambda: bool(crashed.committed_at_ack)
           and crashed.committed_at_ack[-1] == 40)
    assert crashed.committed_at_ack[-1] == 40  # everything acknowledged was committed before

    again = NatsSource(nats_server.url, "bluesky", ack_wait=1.0)
    service = _serve(again, db, _acknowledged(nats_server.url))
    assert service.stats.redelivered > 0  # the server sent them again: acknowledged, not fed
    assert runs_in(db) == {uid: ("success", 40)} and rejected_in(db) == []


def test_a_pull_request_brings_no_more_bytes_than_its_bound(
        tmp_path: Path, nats_server: Any) -> None:
    import nats
    from nats.js import api

    frame = bytes(200_000)

    async def work() -> list[int]:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        for _ in range(30):  # 6 MB
            await js.publish("bluesky.test.event", frame)
        await js.add_consumer("bluesky", api.ConsumerConfig(
            durable_name="bytes", ack_policy=api.AckPolicy.NONE))
        puller = Puller(nc, "bluesky", "bytes", batch=1000, max_bytes=1)
        await puller.open()
        sizes = []
        while sum(n for n in sizes) < 30:
            taken = await puller.take(5.0)
            assert taken, "the stream's messages stopped coming"
            sizes.append(len(taken))
            assert sum(len(m.data) for m in taken) <= puller.max_bytes
            await asyncio.sleep(0.2)  # the next request's messages arrive meanwhile
        await puller.close()
        await nc.close()
        return sizes

    sizes = run(work())
    assert sum(sizes) == 30 == stream_last_seq(nats_server.url)
    assert max(sizes) <= 6  # the bound is the server's largest message: 1 MiB, 5 frames


def test_memory_during_a_disk_stall_is_bounded_by_the_bytes_in_flight_not_the_backlog(
        tmp_path: Path, nats_server: Any, publisher: Any) -> None:
    import tracemalloc

    import numpy as np

    db = tmp_path / "served.db"
    bundle = compose_run()
    publisher("start", bundle.start_doc)
    desc = bundle.compose_descriptor(name="primary", data_keys={"cam": {
        "source": "sim", "dtype": "array", "shape": [256, 256], "dtype_numpy": "<u2"}})
    publisher("descriptor", desc.descriptor_doc)
    frames = 300  # 57 MB as bluesky-nats packs them; the service may hold 8 MB of them
    source = NatsSource(nats_server.url, "bluesky", batch=256, max_bytes=2 * 1024**2)
    stalled = threading.Event()
    growth: list[int] = []

    def stall_and_publish() -> None:
        while not _acknowledged(nats_server.url)():  # start and descriptor are in
            time.sleep(0.05)
        conn = sqlite3.connect(db, isolation_level=None, timeout=30)
        conn.execute("BEGIN IMMEDIATE")  # the beamtime's commits wait: a stalled disk
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        rng = np.random.default_rng(0)
        for _ in range(frames):
            cam = rng.integers(0, 4096, (256, 256), dtype=np.uint16)
            publisher("event", desc.compose_event(data={"cam": cam}, timestamps={"cam": 1.0}))
        time.sleep(2.0)
        growth.append(tracemalloc.get_traced_memory()[1] - base)
        tracemalloc.stop()
        conn.execute("ROLLBACK")
        conn.close()
        publisher("stop", bundle.compose_stop())
        stalled.set()

    thread = threading.Thread(target=stall_and_publish)
    thread.start()
    service = Service(source, BeamtimeRouter(db), status_interval=0,
                      max_pending_bytes=4 * 1024**2)
    _serve_service(service, lambda: stalled.is_set() and _acknowledged(nats_server.url)(),
                   timeout=120)
    thread.join()
    in_flight = service.max_pending_bytes + 2 * source._puller.max_bytes
    assert growth[0] < 3 * in_flight < frames * 190_000 / 2
    assert runs_in(db)[bundle.start_doc["uid"]] == ("success", frames)
