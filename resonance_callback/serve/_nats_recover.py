"""Recovery of :class:`~._nats.NatsSource` after a crash: from the recorded position on."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.serve._nats_messages import _delivery, stored
from resonance_callback.serve._nats_pull import Puller
from resonance_callback.serve._open_runs import OpenRuns
from resonance_callback.serve._wire import Delivery

with needs_extra("serve", "nats-py", "serving from NATS"):
    import nats.js.errors
    from nats.js import api

__all__ = ["Recovery"]

log = logging.getLogger("resonance_callback.serve")


class Recovery:
    """What :class:`~._nats.NatsSource` does before it consumes (its state is the source's)."""

    stream: str
    subject: str | None
    durable: str
    batch: int
    max_bytes: int
    checkpoints: Any
    recovery_read: int
    _nc: Any
    _js: Any
    _dseq: int
    _fed: int
    _created: str
    _runs: OpenRuns

    async def recover(self, feed: Callable[[list[Delivery]], Awaitable[None]]) -> int:
        """Feed, in stream order, what a crash left half done, before consuming.

        The position recorded with the last commit (:mod:`._nats_position`) says
        up to which message everything is committed and which runs were open
        there: their headers (``start``, descriptors, resources) are read back by
        sequence and fed, then every message delivered after that position (the
        server would redeliver those only after ``ack_wait``, behind newer ones).
        What this costs depends on the runs in flight and the messages not
        acknowledged, not on the stream's length; without a record the stream is
        read from its first message to find the runs open at the acknowledgement
        floor. Documents already stored are skipped by the idempotent writer; the
        redeliveries that follow are acknowledged without being fed again.

        Returns
        -------
        int
            Documents fed.
        """
        info = await self._js.consumer_info(self.stream, self.durable)
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        delivered = info.delivered.stream_seq if info.delivered else 0
        self._dseq = info.delivered.consumer_seq if info.delivered else 0
        # the stream's and the consumer's creation: a record of another one is not ours
        created = (await self._js.stream_info(self.stream)).created
        self._created = f"{created or ''} {getattr(info, 'created', None) or ''}"
        if not self._dseq:  # this consumer delivered nothing yet
            return 0
        position = await self.checkpoints.load()
        if position is not None and (position.created != self._created
                                     or position.seq > delivered):
            log.warning("the recorded position (message %d) is not one of stream %s and "
                        "consumer %s as they are now: reading the stream from its first message",
                        position.seq, self.stream, self.durable)
            position = None
        docs: dict[int, tuple[str, object]] = {}
        start = 0
        if position is not None:
            start = position.seq
            for delivery in await self._read(position.sequences()):
                docs[delivery.seq] = (delivery.name, delivery.doc)
        runs = OpenRuns.at(position, docs) if position is not None else OpenRuns()
        resume = max(start, floor)
        self.recovery_read = 0
        if resume > start:  # acknowledged past the record (or none): follow the runs there
            async for delivery in self._scan(start + 1, resume):
                runs.see(delivery.seq, delivery.name, delivery.doc)
        heads = runs.position(resume, self._created).sequences()
        if heads or delivered > resume:
            log.info("recovering from message %d: %d run(s) open there and %d message(s) "
                     "delivered after it", resume, len(runs), delivered - resume)
        fed = 0
        batch = await self._read(heads)
        if resume < delivered:
            async for delivery in self._scan(resume + 1, delivered):
                runs.see(delivery.seq, delivery.name, delivery.doc)
                batch.append(delivery)
                if len(batch) >= self.batch:
                    await feed(batch)
                    fed, batch = fed + len(batch), []
        if batch:
            await feed(batch)
            fed += len(batch)
        self._fed, self._runs = delivered, runs
        return fed

    async def _read(self, sequences: list[int]) -> list[Delivery]:
        """Messages read back by stream sequence, in order (a gone one is skipped)."""
        out = []
        for seq in sequences:
            try:
                out.append(stored(await self._js.get_msg(self.stream, seq)))
            except nats.js.errors.NotFoundError:
                log.warning("message %d of stream %s is gone: not fed again", seq, self.stream)
            self.recovery_read += 1
        return out

    async def _scan(self, first: int, last: int) -> AsyncIterator[Delivery]:
        """Messages ``first..last`` of the stream (of the subject), via a temporary consumer."""
        name = f"resonance-recover-{uuid.uuid4().hex[:12]}"
        config = api.ConsumerConfig(
            name=name, ack_policy=api.AckPolicy.NONE, filter_subject=self.subject,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first,
            inactive_threshold=60.0, mem_storage=True)
        await self._js.add_consumer(self.stream, config)
        puller = Puller(self._nc, self.stream, name, batch=self.batch, max_bytes=self.max_bytes)
        await puller.open()
        try:
            while True:
                msgs = await puller.take(2.0)
                if not msgs:
                    return
                for msg in msgs:
                    self.recovery_read += 1
                    if msg.metadata.sequence.stream > last:
                        return
                    yield _delivery(msg)
                    if msg.metadata.sequence.stream == last:
                        return
        finally:
            await puller.close()
            try:
                await self._js.delete_consumer(self.stream, name)
            except Exception as exc:  # noqa: BLE001 - it expires by itself
                log.debug("recovery consumer %s not deleted: %s", name, exc)
