"""``serve --kafka``: bluesky-kafka's documents from a real broker, committed after the commit.

The broker is a real Kafka-compatible server (Tansu, :mod:`.kafka`) on 127.0.0.1;
the documents come from a real RunEngine (ophyd.sim devices, frames) packed as
bluesky-kafka's Publisher packs them. Each test compares the served beamtime
with the one an in-process callback wrote from the same documents.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
from bluesky.plans import count
from click.testing import CliRunner

from resonance_callback import RunWriterCallback
from resonance_callback.cli import main

from .conftest import camera
from .kafka import (
    KafkaPublisher,
    TansuBroker,
    committed,
    pack,
    publish_runs,
    wait_committed,
)
from .runs import (
    assert_served_as_local,
    publish_open_run,
    publish_run,
    rejected_in,
    runs_in,
)
from .servers import ServeProcesses


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    server = TansuBroker(tmp_path_factory.mktemp("kafka") / "tansu.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def topic(broker: TansuBroker) -> str:
    name = f"bluesky-{uuid.uuid4().hex[:8]}"
    broker.create_topic(name)
    return name


@pytest.fixture
def kafka_publisher(broker: TansuBroker, topic: str) -> Iterator[KafkaPublisher]:
    publisher = KafkaPublisher(broker.bootstrap, topic)
    yield publisher
    publisher.close()


@pytest.fixture
def served_kafka(tmp_path: Path, broker: TansuBroker, topic: str) -> Iterator[ServeProcesses]:
    procs = ServeProcesses(tmp_path, "--kafka", broker.bootstrap, "--topic", topic,
                           "--status-interval", "1", "--session-timeout", "4",
                           "--db", str(tmp_path / "served.db"))
    yield procs
    procs.stop()


def test_served_kafka_beamtime_equals_the_in_process_one_row_for_row_and_frame_for_frame(
        tmp_path: Path, RE, sim, broker, topic, kafka_publisher, served_kafka) -> None:  # noqa: N803
    service = served_kafka()
    publish_runs(RE, sim, RunWriterCallback(tmp_path / "local.db"), kafka_publisher, 10, 0.0)
    wait_committed(broker.bootstrap, topic)
    assert service.terminate() == 0
    assert_served_as_local(tmp_path)


def test_offsets_are_committed_only_after_the_rows_and_a_killed_service_loses_nothing(
        tmp_path: Path, RE, sim, broker, topic, kafka_publisher, served_kafka) -> None:  # noqa: N803
    service = served_kafka()
    killed: list[int] = []

    def killer() -> None:
        time.sleep(1.0)
        service.kill()
        killed.append(service.proc.returncode)
        service.start(wait=False)

    thread = threading.Thread(target=killer)
    thread.start()
    publish_runs(RE, sim, RunWriterCallback(tmp_path / "local.db"), kafka_publisher, 40, 0.04)
    thread.join()
    assert killed == [-9]
    wait_committed(broker.bootstrap, topic)
    assert service.terminate() == 0
    assert_served_as_local(tmp_path)


def test_a_run_open_at_the_committed_offset_is_completed_after_a_restart(
        tmp_path: Path, broker, topic, kafka_publisher, served_kafka) -> None:
    bundle, desc = publish_open_run(kafka_publisher, events=1)
    kafka_publisher.flush()
    service = served_kafka()
    wait_committed(broker.bootstrap, topic)
    assert service.terminate() == 0  # the start and descriptor are committed; the run is open
    for i in range(1, 4):
        kafka_publisher("event", desc.compose_event(data={"x": float(i)}, timestamps={"x": 1.0}))
    kafka_publisher("stop", bundle.compose_stop())
    service = served_kafka()
    wait_committed(broker.bootstrap, topic)
    assert service.terminate() == 0
    assert runs_in(tmp_path / "served.db") == {bundle.start_doc["uid"]: ("success", 4)}
    assert "recovering 1 run(s) open at committed offset 3" in service.text()
    assert rejected_in(tmp_path / "served.db") == []


def test_unreadable_kafka_messages_are_recorded_with_their_reason_and_the_service_goes_on(
        tmp_path: Path, broker, topic, kafka_publisher, served_kafka) -> None:
    service = served_kafka()
    kafka_publisher.raw(b"\xc1 not msgpack")
    kafka_publisher.raw(msgpack.packb({"name": "start"}))
    kafka_publisher.raw(pack("bogus", {"uid": "x"}))
    uid = publish_run(kafka_publisher, events=2)
    kafka_publisher.flush()
    wait_committed(broker.bootstrap, topic)
    assert service.terminate() == 0
    assert runs_in(tmp_path / "served.db") == {uid: ("success", 2)}
    reasons = [reason for _, _, reason in rejected_in(tmp_path / "served.db")]
    assert len(reasons) == 3
    assert all(f"Kafka message {topic}[0]@" in r for r in reasons)
    assert "is not msgpack" in reasons[0]
    assert "not a (name, doc) pair" in reasons[1]
    assert "names no bluesky document: 'bogus'" in reasons[2]
    assert committed(broker.bootstrap, topic) == [3 + 5]  # 3 messages, 5 documents


def test_serve_from_a_kafka_topic_that_does_not_exist_is_one_line_naming_it(
        tmp_path: Path, broker) -> None:
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "b.db"), "--kafka",
                                       broker.bootstrap, "--topic", "no-such-topic"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: Kafka {broker.bootstrap} has no topic 'no-such-topic'")


def test_two_services_in_one_group_share_the_partitions_and_one_takes_over_when_the_other_dies(
        tmp_path: Path, RE, sim, broker, served_kafka) -> None:  # noqa: N803
    topic = f"fleet-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    publisher = KafkaPublisher(broker.bootstrap, topic, partitions=2)
    common = ("--topic", topic)
    first = served_kafka(*common)
    second = served_kafka(*common)
    first.wait_for("assigned partition(s)")
    second.wait_for("assigned partition(s)")
    killed: list[int] = []

    def killer() -> None:
        time.sleep(1.5)
        first.kill()
        killed.append(first.proc.returncode)

    thread = threading.Thread(target=killer)
    thread.start()
    local = RunWriterCallback(tmp_path / "local.db")
    RE.subscribe(local)
    RE.subscribe(publisher)
    for _ in range(4):
        RE(count([sim["det"], camera((64, 64))], num=15, delay=0.05))
    local.close()
    publisher.flush()
    thread.join()
    assert killed == [-9]
    wait_committed(broker.bootstrap, topic, partitions=2, timeout=90)
    assert second.terminate() == 0
    assert "assigned partition(s) 0, 1" in second.text()
    publisher.close()
    assert_served_as_local(tmp_path)
