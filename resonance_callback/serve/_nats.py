"""NATS JetStream as a source: a durable pull consumer, acknowledged after commit.

Messages are read as bluesky-nats publishes them (:mod:`._wire`). The service
acknowledges a message only once the rows it produced are committed, so a
message is in one of three states: acknowledged (committed), delivered and not
acknowledged (redelivered after a crash), or not yet delivered.

After a crash the durable consumer redelivers from its acknowledgement floor,
which may lie in the middle of a run whose ``start`` and descriptors were
acknowledged long ago. A fresh callback would reject the rest of such a run
(its descriptor is unknown to it), so :meth:`NatsSource.recover` first feeds it
again the documents of every run still open at the floor, from that run's
``start``: identical rows are skipped by the idempotent writer, so this costs
a read of the run so far, never a row twice. Within one session a message
delivered twice (its acknowledgement lost while the server restarted) is
recognised by its stream sequence and not fed again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import SourceError
from resonance_callback.serve._nats_messages import _REFS, _delivery
from resonance_callback.serve._wire import Delivery

with needs_extra("serve", "nats-py", "serving from NATS"):
    import nats
    import nats.errors
    import nats.js.errors
    from nats.js import api

__all__ = ["NatsSource"]

log = logging.getLogger("resonance_callback.serve")

class NatsSource:
    """Read a JetStream stream through a durable pull consumer.

    Parameters
    ----------
    url : str
        The NATS server, e.g. ``nats://127.0.0.1:4222``, or the servers of a
        cluster separated by commas (the client moves to another if one goes).
    stream : str
        The JetStream stream bluesky-nats publishes to.
    subject : str or None, optional
        Only messages on subjects matching this pattern (e.g. ``"bluesky.>"``);
        default every message of the stream.
    durable : str, optional
        The durable consumer's name: its position survives restarts of the
        service and of the server.
    batch : int, optional
        Messages asked for per fetch.
    max_ack_pending : int, optional
        Messages delivered and not yet acknowledged that the server allows.
    ack_wait : float, optional
        Seconds before the server redelivers an unacknowledged message.
    """

    kind = "nats"
    acknowledges = True

    def __init__(self, url: str, stream: str, subject: str | None = None, *,
                 durable: str = "resonance-callback", batch: int = 512,
                 max_ack_pending: int = 8192, ack_wait: float = 30.0) -> None:
        self.url = url
        self.stream = stream
        self.subject = subject
        self.durable = durable
        self.batch = batch
        self.max_ack_pending = max_ack_pending
        self.ack_wait = ack_wait
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None
        self._fed = 0  # highest stream sequence fed to the writer this session
        self._dseq = 0  # the consumer's last delivery sequence seen (0: not known)
        self._closing = False
        self.connect_timeout = 10.0

    def describe(self) -> str:
        """One line saying what is read."""
        return (f"NATS {self.url} stream {self.stream} subject {self.subject or '(all)'} "
                f"durable {self.durable}")

    async def open(self) -> None:
        """Connect, check the stream, and create or bind the durable consumer.

        Raises
        ------
        SourceError
            The server cannot be reached, or the stream does not exist.
        """
        try:  # the client retries forever once connected, but not the first connection
            self._nc = await asyncio.wait_for(nats.connect(
                self.url.split(","), connect_timeout=5, max_reconnect_attempts=-1,
                reconnect_time_wait=0.5, allow_reconnect=True, name="resonance-callback serve",
                error_cb=self._on_error, disconnected_cb=self._on_disconnect,
                reconnected_cb=self._on_reconnect), self.connect_timeout)
        except Exception as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else str(exc) or repr(exc)
            raise SourceError(f"cannot connect to NATS server {self.url}: {reason} "
                              f"within {self.connect_timeout:g} s") from exc
        self._js = self._nc.jetstream()
        try:
            await self._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError as exc:
            await self._nc.close()
            raise SourceError(f"NATS server {self.url} has no JetStream stream "
                              f"{self.stream!r}") from exc
        config = api.ConsumerConfig(
            durable_name=self.durable, ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL, ack_wait=self.ack_wait,
            max_ack_pending=self.max_ack_pending, filter_subject=self.subject)
        try:
            await self._js.add_consumer(self.stream, config)
        except nats.js.errors.BadRequestError as exc:
            raise SourceError(f"durable consumer {self.durable!r} of stream {self.stream!r} "
                              f"exists with another configuration: {exc.description}") from exc
        self._sub = await self._js.pull_subscribe_bind(durable=self.durable, stream=self.stream)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS %s: %s", self.url, exc)

    async def _on_disconnect(self) -> None:
        if not self._closing:
            log.warning("NATS %s: disconnected; reconnecting", self.url)

    async def _on_reconnect(self) -> None:
        log.info("NATS %s: reconnected", self.url)

    async def recover(self, feed: Callable[[list[Delivery]], Awaitable[None]]) -> int:
        """Feed, in stream order, what a crash left half done, before consuming.

        That is every document of the runs still open at the consumer's
        acknowledgement floor (from each one's ``start``), and every message
        delivered after the floor and not acknowledged (the server would
        redeliver those only after ``ack_wait``, behind newer ones). Documents
        already stored are skipped by the idempotent writer; the redeliveries
        that follow are acknowledged without being fed again.

        Returns
        -------
        int
            Documents fed.
        """
        info = await self._js.consumer_info(self.stream, self.durable)
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        delivered = info.delivered.stream_seq if info.delivered else 0
        self._dseq = info.delivered.consumer_seq if info.delivered else 0
        if not delivered:
            return 0
        open_runs: dict[str, int] = {}  # run uid -> sequence of its start
        owner: dict[str, str] = {}
        if floor:
            async for delivery in self._scan(1, floor):
                self._own(delivery, owner, open_runs)
        first = min([*open_runs.values(), floor + 1])
        if open_runs or delivered > floor:
            log.info("recovering %d run(s) open at acknowledged message %d (%s) and %d "
                     "message(s) delivered and not acknowledged", len(open_runs), floor,
                     ", ".join(open_runs) or "-", delivered - floor)
        fed = 0
        batch: list[Delivery] = []
        if first <= delivered:
            async for delivery in self._scan(first, delivered):
                doc = delivery.doc
                run = None
                if isinstance(doc, dict):
                    run = doc.get("uid") if delivery.name == "start" else next(
                        (owner.get(doc[k]) for k in _REFS if isinstance(doc.get(k), str)), None)
                if delivery.seq > floor or run in open_runs:
                    batch.append(delivery)
                    if len(batch) >= self.batch:
                        await feed(batch)
                        fed += len(batch)
                        batch = []
        if batch:
            await feed(batch)
            fed += len(batch)
        self._fed = delivered
        return fed

    @staticmethod
    def _own(delivery: Delivery, owner: dict[str, str], open_runs: dict[str, int]) -> None:
        """Follow which run a document belongs to, and which runs are open."""
        doc = delivery.doc
        if not isinstance(doc, dict):
            return
        if delivery.name == "start" and isinstance(doc.get("uid"), str):
            open_runs[doc["uid"]] = delivery.seq
            owner[doc["uid"]] = doc["uid"]
            return
        run = next((owner[doc[k]] for k in _REFS if isinstance(doc.get(k), str)
                    and doc[k] in owner), None)
        if run is None:
            return
        if delivery.name == "stop":
            open_runs.pop(run, None)
        elif delivery.name in ("descriptor", "resource", "stream_resource") and isinstance(
                doc.get("uid"), str):
            owner[doc["uid"]] = run

    async def _scan(self, first: int, last: int) -> AsyncIterator[Delivery]:
        """Messages ``first..last`` of the stream (of the subject), via a temporary consumer."""
        name = f"resonance-recover-{uuid.uuid4().hex[:12]}"
        config = api.ConsumerConfig(
            name=name, ack_policy=api.AckPolicy.NONE, filter_subject=self.subject,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first,
            inactive_threshold=60.0, mem_storage=True)
        await self._js.add_consumer(self.stream, config)
        sub = await self._js.pull_subscribe_bind(consumer=name, stream=self.stream)
        try:
            while True:
                try:
                    msgs = await sub.fetch(self.batch, timeout=2.0)
                except nats.errors.TimeoutError:
                    return
                for msg in msgs:
                    if msg.metadata.sequence.stream > last:
                        return
                    yield _delivery(msg)
                    if msg.metadata.sequence.stream == last:
                        return
        finally:
            await sub.unsubscribe()
            try:
                await self._js.delete_consumer(self.stream, name)
            except Exception as exc:  # noqa: BLE001 - it expires by itself
                log.debug("recovery consumer %s not deleted: %s", name, exc)

    async def fetch(self, timeout: float) -> tuple[list[Delivery], list[Delivery]]:
        """Messages waiting, up to ``batch``: ``(to feed, already fed this session)``."""
        try:
            msgs = await self._sub.fetch(self.batch, timeout=timeout)
        except (nats.errors.TimeoutError, TimeoutError):
            return [], []
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError,
                nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError) as exc:
            log.debug("fetch from %s failed: %s", self.url, exc)
            await asyncio.sleep(0.2)  # the client reconnects in the background
            return [], []
        new: list[Delivery] = []
        again: list[Delivery] = []
        for msg in msgs:
            if msg.subject.startswith("$JS"):  # a status message, not a document
                continue
            seq = msg.metadata.sequence
            if self._dseq and seq.consumer > self._dseq + 1 and seq.stream > self._fed:
                # deliveries were lost on the way (a reconnect): read them from the
                # stream, in order, before this one; their redeliveries come later
                log.info("deliveries %d..%d lost in transit: reading messages %d..%d "
                         "from the stream", self._dseq + 1, seq.consumer - 1, self._fed + 1,
                         seq.stream)
                async for delivery in self._scan(self._fed + 1, seq.stream):
                    new.append(delivery)
                self._fed = seq.stream
            self._dseq = seq.consumer
            delivery = _delivery(msg)
            if delivery.seq <= self._fed:
                delivery.doc = None
                again.append(delivery)
            else:
                self._fed = delivery.seq
                new.append(delivery)
        return new, again

    async def ack(self, deliveries: list[Delivery]) -> None:
        """Acknowledge deliveries whose documents are committed."""
        for delivery in deliveries:
            try:
                await delivery.token.ack()
            except Exception as exc:  # noqa: BLE001 - unacknowledged: redelivered, then skipped
                log.debug("ack of message %d failed: %s", delivery.seq, exc)

    async def lag(self) -> int | None:
        """Messages of the stream not yet delivered to the consumer (None if unknown)."""
        try:
            info = await self._js.consumer_info(self.stream, self.durable, timeout=1.0)
        except Exception:  # noqa: BLE001 - the status line shows '-'
            return None
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def close(self) -> None:
        """Close the connection (the durable consumer stays on the server)."""
        self._closing = True
        if self._nc is not None and not self._nc.is_closed:
            try:
                await self._nc.close()
            except Exception as exc:  # noqa: BLE001 - unacknowledged messages come again
                log.warning("NATS %s: closing the connection failed: %s", self.url, exc)
