"""NATS JetStream as a source: a durable pull consumer, acknowledged after commit.

Messages are read as bluesky-nats publishes them (:mod:`._wire`), through pull
requests bounded by bytes, the next one asked for while the service writes
(:mod:`._nats_pull`). The service acknowledges a message only once the rows it
produced are committed, so a message is in one of three states: acknowledged
(committed), delivered and not acknowledged (redelivered after a crash), or not
yet delivered.

With each commit, before its acknowledgements, the source records its position
(:mod:`._nats_position`): the stream sequence up to which everything is committed,
and the runs open there. After a crash the consumer redelivers from its
acknowledgement floor, which may lie in the middle of a run whose ``start`` and
descriptors were acknowledged long ago; a fresh callback would reject the rest of
such a run (its descriptor is unknown to it), so :meth:`NatsSource.recover` first
feeds it again those headers, read back by sequence, then what was delivered after
the position (identical rows are skipped by the idempotent writer). Within one
session a message delivered twice (its acknowledgement lost while the server
restarted) is recognised by its stream sequence and not fed again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import SourceError
from resonance_callback.serve._nats_messages import _delivery, _sequences
from resonance_callback.serve._nats_position import Checkpoints
from resonance_callback.serve._nats_pull import Puller
from resonance_callback.serve._nats_recover import Recovery
from resonance_callback.serve._numbers import warm
from resonance_callback.serve._open_runs import OpenRuns, Position
from resonance_callback.serve._wire import Delivery

with needs_extra("serve", "nats-py", "serving from NATS"):
    import nats
    import nats.errors
    import nats.js.errors
    from nats.js import api

__all__ = ["NatsSource"]

log = logging.getLogger("resonance_callback.serve")

class NatsSource(Recovery):
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
        Messages asked for per pull request.
    max_bytes : int, optional
        Payload bytes asked for per pull request at most (what waits in this
        process beyond what is being written; raised to the server's largest message).
    max_ack_pending : int, optional
        Messages delivered and not yet acknowledged that the server allows.
    ack_wait : float, optional
        Seconds before the server redelivers an unacknowledged message.
    """

    kind = "nats"
    acknowledges = True

    def __init__(self, url: str, stream: str, subject: str | None = None, *,
                 durable: str = "resonance-callback", batch: int = 256,
                 max_bytes: int = 16 * 1024**2, max_ack_pending: int = 8192,
                 ack_wait: float = 30.0) -> None:
        self.url = url
        self.stream = stream
        self.subject = subject
        self.durable = durable
        self.batch = batch
        self.max_bytes = max_bytes
        self.max_ack_pending = max_ack_pending
        self.ack_wait = ack_wait
        self._nc: Any = None
        self._js: Any = None
        self._puller: Any = None
        self._runs = OpenRuns()
        self._created = ""
        self.checkpoints: Any = None
        self.recovery_read = 0  # messages read by the last recovery
        self._ack_all = False
        self._fed = 0  # highest stream sequence fed to the writer this session
        self._dseq = 0  # the consumer's last delivery sequence seen (0: not known)
        self._closing = False
        self.connect_timeout = 10.0
        self.caught_up = False

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
        await asyncio.to_thread(warm)  # arrays sent as lists are read whole: compiled first
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
        policy = api.AckPolicy.ALL  # one acknowledgement a commit; an older consumer keeps its own
        try:
            policy = (await self._js.consumer_info(self.stream, self.durable)).config.ack_policy
        except nats.js.errors.NotFoundError:
            pass
        self._ack_all = policy == api.AckPolicy.ALL
        config = api.ConsumerConfig(
            durable_name=self.durable, ack_policy=policy,
            deliver_policy=api.DeliverPolicy.ALL, ack_wait=self.ack_wait,
            max_ack_pending=self.max_ack_pending, filter_subject=self.subject)
        try:
            await self._js.add_consumer(self.stream, config)
        except nats.js.errors.BadRequestError as exc:
            raise SourceError(f"durable consumer {self.durable!r} of stream {self.stream!r} "
                              f"exists with another configuration: {exc.description}") from exc
        self._puller = Puller(self._nc, self.stream, self.durable, batch=self.batch,
                              max_bytes=self.max_bytes)
        await self._puller.open()
        self.checkpoints = Checkpoints(self._js, self.stream, self.durable)

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS %s: %s", self.url, exc)

    async def _on_disconnect(self) -> None:
        if self._puller is not None:
            self._puller.lost()
        if not self._closing:
            log.warning("NATS %s: disconnected; reconnecting", self.url)

    async def _on_reconnect(self) -> None:
        if self._puller is not None:
            self._puller.lost()
        log.info("NATS %s: reconnected", self.url)

    async def fetch(self, timeout: float) -> tuple[list[Delivery], list[Delivery]]:
        """Messages received, up to ``batch``: ``(to feed, already fed this session)``."""
        try:
            msgs = await self._puller.take(timeout)
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError,
                nats.errors.OutboundBufferLimitError) as exc:
            log.debug("pull request to %s failed: %s", self.url, exc)
            self._puller.lost()
            self.caught_up = False
            await asyncio.sleep(0.2)  # the client reconnects in the background
            return [], []
        new: list[Delivery] = []
        again: list[Delivery] = []
        runs = self._runs
        for msg in msgs:
            seq = _sequences(msg)
            if self._dseq and seq.consumer > self._dseq + 1 and seq.stream > self._fed:
                # deliveries were lost on the way (a reconnect): read them from the
                # stream, in order, before this one; their redeliveries come later
                log.info("deliveries %d..%d lost in transit: reading messages %d..%d "
                         "from the stream", self._dseq + 1, seq.consumer - 1, self._fed + 1,
                         seq.stream)
                async for delivery in self._scan(self._fed + 1, seq.stream):
                    runs.see(delivery.seq, delivery.name, delivery.doc)
                    new.append(delivery)
                self._fed = seq.stream
            self._dseq = seq.consumer
            if seq.stream <= self._fed:
                msg.data = b""
                again.append(Delivery("message", None, 0, None, msg, seq.stream))
                continue
            delivery = _delivery(msg, seq)
            self._fed = delivery.seq
            runs.see(delivery.seq, delivery.name, delivery.doc)
            new.append(delivery)
        if msgs:  # the server counts what waits behind each message it delivers
            self.caught_up = seq.pending == 0
        return new, again

    def position(self) -> Position:
        """Where the service stands: what is fed so far, once committed."""
        return self._runs.position(self._fed, self._created)

    async def committed(self, position: object) -> None:
        """Record ``position`` (from :meth:`position`) once what was fed before it is committed."""
        if isinstance(position, Position):
            await self.checkpoints.save(position)

    async def ack(self, deliveries: list[Delivery]) -> None:
        """Acknowledge deliveries whose documents are committed.

        With ``AckPolicy.ALL`` (consumers this service makes) the last one
        acknowledges every message before it: all of them are committed.
        """
        if self._ack_all:
            tokens = [d for d in deliveries if d.token is not None]
            deliveries = [max(tokens, key=lambda d: d.seq)] if tokens else []
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
