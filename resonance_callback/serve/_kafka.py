"""Kafka as a source: a consumer group whose offsets are committed only after the commit.

Messages are read as bluesky-kafka's ``Publisher`` produces them: the value is
``msgpack.packb((name, doc), default=msgpack_numpy.encode)`` (arrays as
msgpack-numpy maps, read whole: :mod:`._wire`), the key the start's uid. The
key is not read: Kafka keeps order within a partition, and one key keeps a
run's documents on one partition.

The group's committed offset of a partition moves only once the rows of every
document before it are committed to their beamtime, so a message is committed
(stored), fetched and not committed (fetched again after a crash or a
rebalance: the idempotent writer skips what it already stored), or not yet
fetched. A committed offset can lie in the middle of a run whose ``start`` was
committed long ago: when a partition is assigned (and this process did not
feed it that far already), the documents of the runs still open at its
committed offset are fed again first, from each run's ``start``
(:class:`~._open_runs.OpenRuns`), as :class:`~._nats.NatsSource` does at its
acknowledgement floor, reading the partition from its first retained offset.

Several ``serve --kafka`` processes in one group (``--group``) share a topic's
partitions: Kafka assigns each partition to one of them at a time, so each
run is written by one process at a time.

When the brokers are gone the service waits for them (:mod:`._kafka_health`:
one line when they go, one when they are back, librdkafka reconnecting every
two seconds at most); offsets that could not be committed meanwhile are
committed once they answer, and a partition whose recovery could not read the
broker waits, paused, and is recovered again every :data:`RETRY` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import SourceError
from resonance_callback.serve._kafka_health import RECONNECT, BrokerHealth, unreachable
from resonance_callback.serve._kafka_messages import KafkaReader, kafka_document
from resonance_callback.serve._kafka_recovery import KafkaRecovery
from resonance_callback.serve._wire import Delivery

with needs_extra("kafka", "confluent-kafka", "serving from Kafka"):
    import confluent_kafka as ck

__all__ = ["KafkaSource", "kafka_document"]

log = logging.getLogger("resonance_callback.serve")

#: Seconds between two tries of a commit or a recovery that failed.
RETRY = 1.0

class KafkaSource:
    """Read a topic as a member of a consumer group, committing offsets after commit.

    Parameters
    ----------
    bootstrap : str
        The brokers, ``HOST:PORT[,HOST:PORT...]``.
    topic : str
        The topic bluesky-kafka's ``Publisher`` produces to.
    group : str, optional
        The consumer group: its committed offsets survive restarts; processes
        of one group share the topic's partitions.
    batch : int, optional
        Messages taken per fetch at most.
    max_bytes : int, optional
        The largest message read; a larger one is recorded unread.
    session_timeout : float, optional
        Seconds without a heartbeat before the group gives this member's
        partitions to another.
    """

    kind = "kafka"
    acknowledges = True
    caught_up = False  # consume() returns a part batch only at its timeout: no earlier sign

    def __init__(self, bootstrap: str, topic: str, *, group: str = "resonance-callback",
                 batch: int = 512, max_bytes: int = 64 * 1024**2,
                 session_timeout: float = 10.0) -> None:
        if not bootstrap or not topic:
            raise SourceError("Kafka needs --kafka HOST:PORT and --topic NAME")
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.batch = batch
        self.max_bytes = max_bytes
        self.session_timeout = session_timeout
        self.open_timeout = 10.0
        self._consumer: Any = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="kafka")  # the consumer's thread
        self._fed: dict[int, int] = {}  # partition -> highest offset fed this session
        self._recover: list[int] = []  # partitions assigned and not yet recovered
        self._held: list[Delivery] = []  # fetched before their partition is recovered
        self._uncommitted: dict[int, int] = {}  # partition -> offset to commit, not yet taken
        self._retry_at = self._recover_at = 0.0  # the next try of a failed commit, recovery
        self.health = BrokerHealth(bootstrap)
        self._reader = KafkaReader(bootstrap, topic, max_bytes)
        self._recovery = KafkaRecovery(self._reader, self._config, batch)

    def describe(self) -> str:
        """One line saying what is read."""
        return f"Kafka {self.bootstrap} topic {self.topic} group {self.group}"

    def _config(self, group: str) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap, "group.id": group,
                "enable.auto.commit": False, "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": int(self.session_timeout * 1000),  # 4 heartbeats in it
                "heartbeat.interval.ms": max(100, min(3000, int(self.session_timeout * 250))),
                "fetch.max.bytes": self.max_bytes,
                "max.partition.fetch.bytes": self.max_bytes,
                "receive.message.max.bytes": self.max_bytes + 1024**2,
                "queued.max.messages.kbytes": max(1024, 2 * self.max_bytes // 1024),
                **RECONNECT, "logger": self.health, "error_cb": self.health.error}

    async def _call(self, work: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    async def open(self) -> None:
        """Check the topic and join the group.

        Raises
        ------
        SourceError
            No broker answers, or the topic does not exist.
        """
        self._consumer = ck.Consumer(self._config(self.group))
        try:
            meta = await self._call(lambda: self._consumer.list_topics(
                self.topic, timeout=self.open_timeout))
        except ck.KafkaException as exc:
            await self._call(self._consumer.close)
            raise SourceError(f"cannot reach Kafka {self.bootstrap}: {exc.args[0].str()} "
                              f"within {self.open_timeout:g} s") from exc
        topic = meta.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            await self._call(self._consumer.close)
            raise SourceError(f"Kafka {self.bootstrap} has no topic {self.topic!r}")
        self._consumer.subscribe([self.topic], on_assign=self._on_assign,
                                 on_revoke=self._on_revoke)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        got = sorted(p.partition for p in partitions)
        log.info("Kafka %s: assigned partition(s) %s of %s", self.bootstrap,
                 ", ".join(map(str, got)), self.topic)
        self._recover.extend(got)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        gone = {p.partition for p in partitions}  # _fed is kept: see _recovered
        for p in gone:  # what is not committed is fetched again by the next owner
            self._uncommitted.pop(p, None)
        self._recover = [p for p in self._recover if p not in gone]
        self._held = [d for d in self._held if d.token[0] not in gone]

    async def recover(self, feed: Callable[[list[Delivery]], Awaitable[None]]) -> int:
        """Join the group, then feed again the runs open at each partition's committed offset.

        Returns
        -------
        int
            Documents fed.
        """
        deadline = time.monotonic() + max(30.0, 3 * self.session_timeout)
        while not self._recover and time.monotonic() < deadline:
            got = await self._call(self._consumer.consume, self.batch, 0.2)
            self._held.extend(self._reader.read(got))  # read before the assignment callback? kept
        if not self._recover:
            log.warning("Kafka %s: no partition of %s assigned yet (other members of "
                        "group %s hold them all?)", self.bootstrap, self.topic, self.group)
            return 0
        recovered: list[Delivery] = await self._call(self._recovered)
        for i in range(0, len(recovered), self.batch):
            await feed(recovered[i:i + self.batch])
        return len(recovered)

    def _recovered(self) -> list[Delivery]:
        """The documents of runs open at the committed offsets of newly assigned partitions.

        Not those of a partition this process fed up to its committed offset or
        beyond (assigned back after the brokers were gone): its open runs are
        open here, and what it fed is not fed again. If the broker cannot be
        read, the partitions stay to recover, paused (nothing of theirs is fed
        before their open runs), and are tried again after :data:`RETRY` seconds.
        """
        partitions = list(self._recover)
        tps = [ck.TopicPartition(self.topic, p) for p in partitions]
        try:
            committed = self._consumer.committed(tps, timeout=self.open_timeout)
            out = [d for tp in committed if self._fed.get(tp.partition, -1) < tp.offset - 1
                   for batch in self._recovery.open_runs(tp.partition, tp.offset) for d in batch]
        except (ck.KafkaException, SourceError) as exc:
            reason = exc.args[0].str() if isinstance(exc, ck.KafkaException) else str(exc)
            log.warning("Kafka %s: recovering partition(s) %s of %s failed: %s; tried again "
                        "in %g s, their messages wait", self.bootstrap,
                        ", ".join(map(str, partitions)), self.topic, reason, RETRY)
            self._consumer.pause(tps)
            self._recover_at = time.monotonic() + RETRY
            return []
        self._consumer.resume(tps)
        self._recover = [p for p in self._recover if p not in partitions]
        return out

    def _fetch(self, timeout: float) -> tuple[list[Delivery], list[Delivery]]:
        self.health.probe(self._consumer, self.topic)
        msgs = self._consumer.consume(self.batch, timeout)  # queued ones: no sign of the brokers
        now = time.monotonic()
        if self._uncommitted and now >= self._retry_at and not self.health.down:
            self._commit_uncommitted()
        new = self._recovered() if self._recover and now >= self._recover_at else []
        again: list[Delivery] = []
        held, self._held = [*self._held, *self._reader.read(msgs)], []
        for delivery in held:
            partition, offset = delivery.token
            if partition in self._recover:  # its recovery failed: fed after it
                self._held.append(delivery)
            elif offset <= self._fed.get(partition, -1):
                delivery.doc = None
                again.append(delivery)
            else:
                self._fed[partition] = offset
                new.append(delivery)
        return new, again

    async def fetch(self, timeout: float) -> tuple[list[Delivery], list[Delivery]]:
        """Messages waiting, up to ``batch``: ``(to feed, already fed this session)``."""
        result: tuple[list[Delivery], list[Delivery]] = await self._call(self._fetch, timeout)
        return result

    def position(self) -> None:
        """Kafka's own committed offsets are the position: nothing more to record."""

    async def committed(self, position: object) -> None:
        """Nothing to record beyond the offsets :meth:`ack` commits."""

    def _commit(self, deliveries: list[Delivery]) -> None:
        ends = self._uncommitted
        for delivery in deliveries:
            if delivery.token is not None:
                partition, offset = delivery.token
                ends[partition] = max(ends.get(partition, 0), offset + 1)
        if ends and not self.health.down:  # down: committed once the brokers answer
            self._commit_uncommitted()

    def _commit_uncommitted(self) -> None:
        """Commit the offsets waiting; if that fails, keep them for a later try."""
        ends = self._uncommitted
        try:
            self._consumer.commit(offsets=[ck.TopicPartition(self.topic, p, o)
                                           for p, o in sorted(ends.items())],
                                  asynchronous=False)
        except ck.KafkaException as exc:
            err = exc.args[0]
            if unreachable(err):  # kept for a new try
                self._retry_at = time.monotonic() + RETRY
                log.warning("Kafka %s: committing offsets %s failed: %s; tried again in %g s",
                            self.bootstrap, ends, err.str(), RETRY)
                return
            # refused (a rebalance): the partition's owner fetches them again, skips them
            log.warning("Kafka %s: committing offsets %s refused: %s", self.bootstrap, ends,
                        err.str())
        else:
            self.health.up()
        self._uncommitted = {}

    async def ack(self, deliveries: list[Delivery]) -> None:
        """Commit the offsets after these deliveries (their rows are committed)."""
        await self._call(self._commit, deliveries)

    def _lag(self) -> int:
        total = 0
        for tp in self._consumer.position(self._consumer.assignment()):
            _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if tp.offset >= 0 and high >= 0:
                total += max(0, high - tp.offset)
        return total

    async def lag(self) -> int | None:
        """Messages of the assigned partitions not yet fetched (None if unknown)."""
        try:
            lag: int = await self._call(self._lag)
        except Exception:  # noqa: BLE001 - the status line shows '-'
            return None
        return lag

    async def close(self) -> None:
        """Leave the group (committed offsets stay with the broker)."""
        if self._consumer is not None:
            try:
                await self._call(self._consumer.close)
            except Exception as exc:  # noqa: BLE001 - what is not committed comes again
                log.warning("Kafka %s: closing the consumer failed: %s", self.bootstrap, exc)
        self._pool.shutdown(wait=False)
