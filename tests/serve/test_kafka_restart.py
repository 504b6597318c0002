"""``serve --kafka`` across a restart of the broker: Tansu keeping its state on a real S3 server.

The broker (:func:`.kafka.persistent_broker`) is stopped mid-run, by SIGTERM or
SIGKILL, and started again on the same port with its storage: the service waits
for it, carries on, and the beamtime ends equal to the one an in-process
callback wrote from the same documents, row for row and frame for frame.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resonance_callback import RunWriterCallback
from resonance_callback.serve import Delivery
from resonance_callback.serve._kafka import KafkaSource

from .kafka import (
    KafkaPublisher,
    TansuBroker,
    committed,
    end_offsets,
    persistent_broker,  # noqa: F401 - the fixture, for these tests
    publish_runs,
    wait_committed,
)
from .runs import assert_served_as_local, publish_run, rejected_in, runs_in
from .servers import ServeProcesses

#: Seconds without a heartbeat before the group drops a member (short: joins wait for it).
SESSION_TIMEOUT = 4


@pytest.fixture
def topic(persistent_broker: TansuBroker) -> str:  # noqa: F811
    name = f"restart-{uuid.uuid4().hex[:8]}"
    persistent_broker.create_topic(name)
    return name


@pytest.fixture
def publisher(persistent_broker: TansuBroker, topic: str) -> Iterator[KafkaPublisher]:  # noqa: F811
    pub = KafkaPublisher(persistent_broker.bootstrap, topic)
    yield pub
    pub.close()


@pytest.fixture
def services(tmp_path: Path, persistent_broker: TansuBroker,  # noqa: F811
             topic: str) -> Iterator[ServeProcesses]:
    procs = ServeProcesses(tmp_path, "--kafka", persistent_broker.bootstrap, "--topic", topic,
                           "--status-interval", "1", "--session-timeout", str(SESSION_TIMEOUT))
    yield procs
    procs.stop()


class RestartMidRun:
    """A RunEngine subscriber: at the 5th event of the run with ``events`` events, once the
    service committed what came before (the run is open at the committed offset), the
    broker is stopped with ``sig`` and started again ``down`` seconds later, in a thread:
    documents keep coming while it is gone; the 20th event waits until it is back."""

    def __init__(self, broker: TansuBroker, publisher: KafkaPublisher, topic: str, sig: int,
                 down: float, events: int) -> None:
        self.broker, self.publisher, self.topic, self.events = broker, publisher, topic, events
        self.thread = threading.Thread(target=broker.restart, kwargs={"sig": sig, "down": down})
        self.seen = 0
        self.run = False

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.run = doc.get("num_points") == self.events
        if name != "event" or not self.run:
            return
        self.seen += 1
        if self.seen == 5:
            self.publisher.flush()
            wait_committed(self.broker.bootstrap, self.topic)
            self.thread.start()
        elif self.seen == 20:
            self.thread.join()


@pytest.mark.parametrize(("sig", "down"), [(signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)],
                         ids=["SIGTERM", "SIGKILL-longer-than-the-session"])
def test_a_broker_restarted_mid_run_loses_nothing_and_the_service_carries_on(
        tmp_path: Path, RE, sim, persistent_broker, topic, publisher, services,  # noqa: F811, N803
        sig: int, down: float) -> None:
    service = services("--db", str(tmp_path / "served.db"))
    service.wait_for("assigned partition(s)")
    restart = RestartMidRun(persistent_broker, publisher, topic, sig, down, events=40)
    RE.subscribe(restart)
    publish_runs(RE, sim, RunWriterCallback(tmp_path / "local.db"), publisher, 40, 0.04)
    assert restart.seen == 40 and not restart.thread.is_alive()
    wait_committed(persistent_broker.bootstrap, topic)
    assert service.terminate() == 0
    assert_served_as_local(tmp_path)
    log = service.text()
    bootstrap = persistent_broker.bootstrap
    assert log.count(f"Kafka {bootstrap}: no broker answers") == 1
    assert log.count(f"Kafka {bootstrap}: the brokers answer again after") == 1
    assert log.count("Connection refused") <= 10  # not one a connection attempt
    if down > SESSION_TIMEOUT:  # the group dropped it; it joins again, its open run still open
        assert log.count("assigned partition(s) 0") == 2
        assert "recovering" not in log  # nothing fed twice: no "start ... already received"


def test_offsets_committed_before_a_broker_restart_are_where_the_next_service_starts(
        tmp_path: Path, persistent_broker, topic, publisher, services) -> None:  # noqa: F811
    first_uid = publish_run(publisher, events=3)
    publisher.flush()
    first = services("--db", str(tmp_path / "first.db"))
    ends = wait_committed(persistent_broker.bootstrap, topic)
    assert first.terminate() == 0
    persistent_broker.restart(down=0.5, sig=signal.SIGKILL)
    assert committed(persistent_broker.bootstrap, topic) == ends
    second_uid = publish_run(publisher, events=2)
    publisher.flush()
    second = services("--db", str(tmp_path / "second.db"))
    wait_committed(persistent_broker.bootstrap, topic)
    assert second.terminate() == 0
    assert runs_in(tmp_path / "first.db") == {first_uid: ("success", 3)}
    assert runs_in(tmp_path / "second.db") == {second_uid: ("success", 2)}
    assert rejected_in(tmp_path / "second.db") == []
    assert end_offsets(persistent_broker.bootstrap, topic) == [ends[0] + 5]


def test_offsets_acknowledged_while_the_broker_is_gone_are_committed_once_it_is_back(
        persistent_broker, topic, publisher) -> None:  # noqa: F811
    publish_run(publisher, events=3)
    publisher.flush()
    source = KafkaSource(persistent_broker.bootstrap, topic, session_timeout=SESSION_TIMEOUT)

    async def nothing(batch: list[Delivery]) -> None:
        raise AssertionError(f"nothing to recover, got {batch}")

    async def serve() -> list[int]:
        await source.open()
        await source.recover(nothing)
        got: list[Delivery] = []
        while len(got) < 6:
            got += (await source.fetch(0.25))[0]
        assert persistent_broker.proc is not None
        persistent_broker.proc.kill()
        persistent_broker.proc.wait(10)
        for _ in range(4):  # the consumer finds the broker gone
            await source.fetch(0.25)
        await source.ack(got)  # the rows are committed; the offsets cannot be, yet
        persistent_broker.start()
        seen: list[int] = []
        for _ in range(80):  # with nothing more to fetch
            await source.fetch(0.25)
            seen = committed(persistent_broker.bootstrap, topic)
            if seen == [6]:
                break
        await source.close()
        return seen

    assert asyncio.run(serve()) == [6]
