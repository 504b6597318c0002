"""After an assignment: the runs open at a partition's committed offset, fed again.

A committed offset can lie in the middle of a run whose ``start`` was committed
long ago; a fresh writer would refuse the rest of that run (its descriptor is
unknown to it). :meth:`KafkaRecovery.open_runs` reads the partition up to the
committed offset with a consumer outside the group, follows which runs are
still open there (:class:`~._open_runs.OpenRuns`), and yields their documents
again from each one's ``start``: the idempotent writer skips what it stored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import SourceError
from resonance_callback.serve._kafka_messages import KafkaReader
from resonance_callback.serve._open_runs import OpenRuns
from resonance_callback.serve._wire import Delivery

with needs_extra("kafka", "confluent-kafka", "serving from Kafka"):
    import confluent_kafka as ck

__all__ = ["KafkaRecovery"]

log = logging.getLogger("resonance_callback.serve")


class KafkaRecovery:
    """Read back what a partition holds before its committed offset.

    Parameters
    ----------
    reader : KafkaReader
        Turns messages into deliveries.
    config : callable
        The consumer configuration for a group name.
    batch : int
        Deliveries per batch yielded.
    timeout : float, optional
        Seconds one read may wait for messages that must be there.
    """

    def __init__(self, reader: KafkaReader, config: Callable[[str], dict[str, Any]],
                 batch: int, timeout: float = 10.0) -> None:
        self.reader = reader
        self.topic = reader.topic
        self.config = config
        self.batch = batch
        self.timeout = timeout

    def open_runs(self, partition: int, end: int) -> Iterator[list[Delivery]]:
        """Batches of the documents of runs open at offset ``end`` of ``partition``."""
        followed = OpenRuns()
        for delivery in self.scan(partition, None, end):
            followed.see(delivery.seq, delivery.name, delivery.doc)
        starts = followed.starts()
        if not starts:
            return
        log.info("Kafka %s[%d]: recovering %d run(s) open at committed offset %d (%s)",
                 self.topic, partition, len(starts), end, ", ".join(starts))
        first, runs = min(starts.values()), set(starts)
        followed = OpenRuns()
        batch: list[Delivery] = []
        for delivery in self.scan(partition, first, end):
            followed.see(delivery.seq, delivery.name, delivery.doc)
            if followed.run_of(delivery.name, delivery.doc) in runs:
                delivery.token = None  # before the committed offset: nothing to commit
                batch.append(delivery)
                if len(batch) >= self.batch:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def scan(self, partition: int, first: int | None, end: int) -> Iterator[Delivery]:
        """Messages ``first..end-1`` of a partition, read outside the group.

        ``first`` None is the partition's oldest retained message.
        """
        scanner = ck.Consumer(self.config(f"resonance-recover-{uuid.uuid4().hex[:12]}"))
        try:
            if first is None:
                first = int(scanner.get_watermark_offsets(
                    ck.TopicPartition(self.topic, partition), timeout=self.timeout)[0])
            scanner.assign([ck.TopicPartition(self.topic, partition, first)])
            offset: int = first
            while offset < end:  # asks for what is missing: consume returns once it is there
                msgs = [m for m in scanner.consume(min(self.batch, end - offset), self.timeout)
                        if m.error() is None and m.offset() is not None]
                if not msgs:
                    raise SourceError(f"Kafka {self.topic}[{partition}]: offsets {offset}.."
                                      f"{end - 1} could not be read within "
                                      f"{self.timeout:g} s")
                yield from self.reader.read([m for m in msgs if (m.offset() or 0) < end])
                offset = max(offset, (msgs[-1].offset() or 0) + 1)
        finally:
            scanner.close()
