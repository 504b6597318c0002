"""The service loop: fetch from a source, feed the router, commit, then acknowledge.

One asyncio loop talks to the source (NATS or 0MQ); every call into the
callbacks runs on one worker thread, in order, and that thread is the writer's:
the service's callbacks write where they are called (``threaded=False``,
:func:`~._beamtimes.ServiceCallback`), so no second queue and thread stand
between the fetch and the database. The loop fetches and decodes the next batch
while the worker writes the one before and commits: one batch is fed at a time
and one commit waits at most, so a writer that falls behind (a slow disk) holds
up the next fetch, never the source's connection: the consumer waits, memory
stays bounded (a batch being written, one fetched, the documents waiting for
their commit), and nothing is dropped.

Acknowledgement after commit: documents fed are acknowledged in groups, once
:meth:`BeamtimeRouter.flush` has returned (every row they produced is
committed, frames first: :mod:`resonance_callback.store._batch`) and the
source has recorded its position (:meth:`Source.committed`): after
``ack_every`` documents, ``ack_interval`` seconds, ``max_pending_bytes`` of
payload, or when the source goes quiet: a fetch finds nothing, or the source
says its last fetch took everything it had (``Source.caught_up``: JetStream
counts the messages behind each one it delivers) and the oldest document
waiting is ``group_window`` seconds old (documents arriving meanwhile join the
commit). A fetch waits no longer than until what is pending is due, so the end
of a backlog or a live burst is committed within ``group_window``, not after a
fetch's timeout. Never before: a crash between the
commit and the acknowledgement redelivers what was stored, which the idempotent
writer skips.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from resonance_callback.serve._route import BeamtimeRouter
from resonance_callback.serve._source import ServiceStats, Source
from resonance_callback.serve._status import RejectionCounter, status_fields, status_line
from resonance_callback.serve._whole import WholeTypes
from resonance_callback.serve._wire import Delivery

__all__ = ["Service", "ServiceStats", "Source"]

log = logging.getLogger("resonance_callback.serve")


class Service:
    """Serve one source into beamtimes until stopped.

    Parameters
    ----------
    source : Source
        Where documents come from.
    router : BeamtimeRouter
        Where they go.
    ack_every : int, optional
        Commit and acknowledge after this many documents at the latest.
    ack_interval : float, optional
        ... or once the oldest unacknowledged document is this many seconds old.
    max_pending_bytes : int, optional
        ... or once this many bytes of payload wait for their acknowledgement.
    status_interval : float, optional
        Seconds between two status lines (0: none).
    fetch_timeout : float, optional
        Seconds one fetch waits for the first message.
    group_window : float, optional
        ... or, once the source is caught up (``Source.caught_up``), as soon as the
        oldest is this many seconds old: what arrives meanwhile joins the commit.
    freeze_start_up : bool, optional
        The process is the service's own (``resonance-callback serve``): once the
        source is open, what start-up loaded (modules, numba, zarr: most of the
        heap) is frozen out of the garbage collector (:func:`gc.freeze`), so a full
        collection while serving no longer walks it (pauses of 0.1-0.5 s here).
    """

    def __init__(self, source: Source, router: BeamtimeRouter, *, ack_every: int = 1000,
                 ack_interval: float = 0.2, max_pending_bytes: int = 64 * 1024**2,
                 status_interval: float = 10.0, fetch_timeout: float = 0.25,
                 group_window: float = 0.02, freeze_start_up: bool = False) -> None:
        self.source = source
        self.router = router
        self.ack_every = ack_every
        self.ack_interval = ack_interval
        self.max_pending_bytes = max_pending_bytes
        self.status_interval = status_interval
        self.fetch_timeout = fetch_timeout
        self.group_window = group_window
        self.freeze_start_up = freeze_start_up
        self.stats = ServiceStats()
        self._types = WholeTypes()  # arrays read whole (NATS) typed as they are fed
        self._pending: list[Delivery] = []
        self._pending_bytes = 0
        self._oldest = 0.0
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="resonance-serve")
        self._rejections = RejectionCounter()
        self.on_commit: Callable[[list[Delivery], float], None] | None = None
        self._rate_mark: tuple[float, int] = (time.monotonic(), 0)
        self._recent: list[float] = []  # latencies since the last status line
        self._feeding: asyncio.Future[None] | None = None  # the batch the worker writes
        self._committing: asyncio.Task[None] | None = None  # the commit waiting for its acks

    async def _in_worker(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, func, *args)

    def _feed(self, deliveries: list[Delivery]) -> None:
        """Hand documents to the router, in order (on the worker thread); never raises.

        A message that could not be read is recorded with its reason (in the
        unrouted beamtime, or the one ``--db``); so is any failure of one document.
        """
        types, router, stats = self._types, self.router, self.stats
        for delivery in deliveries:
            name, doc = delivery.name, delivery.doc
            if delivery.reason is not None:
                stats.errors += 1
                router.record(name, doc, delivery.reason)
                continue
            try:
                if isinstance(doc, dict):
                    doc = types(name, doc)
                    if name == "start":
                        stats.runs_open += 1
                    elif name == "stop":
                        stats.runs_open = max(0, stats.runs_open - 1)
                else:
                    stats.errors += 1
                router(name, doc)
            except Exception as exc:  # noqa: BLE001 - one document costs only itself
                stats.errors += 1
                reason = f"{name} could not be handed to its beamtime: {type(exc).__name__}: {exc}"
                log.error("%s", reason)
                router.record(name, {"uid": doc.get("uid") if isinstance(doc, dict) else None,
                                     "reason": reason}, reason)
            delivery.doc = None  # handed over: what waits for its ack stays small

    async def _recover_batch(self, deliveries: list[Delivery]) -> None:
        await self._in_worker(self._feed, deliveries)
        self.stats.recovered += len(deliveries)

    async def _commit(self) -> None:
        """Commit everything fed so far; acknowledge it once committed (in the background).

        At most one commit waits for its acknowledgements: a second one first
        waits for it. The worker runs the flush after every batch handed to it
        before, so it commits all of them.
        """
        if self._committing is not None:
            await self._committing
            self._committing = None
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        position = self.source.position()
        flushed = asyncio.get_running_loop().run_in_executor(self._worker, self.router.flush)
        self._committing = asyncio.create_task(self._acknowledge(pending, position, flushed))

    async def _acknowledge(self, pending: list[Delivery], position: object,
                           flushed: asyncio.Future[None]) -> None:
        await flushed
        committed = time.time()
        for delivery in pending:
            if delivery.sent is not None:
                self.stats.latencies.append(committed - delivery.sent)
                self._recent.append(committed - delivery.sent)
        await self.source.committed(position)
        if self.source.acknowledges:
            await self.source.ack(pending)
        self.stats.acknowledged += len(pending)
        if self.on_commit is not None:
            self.on_commit(pending, committed)

    async def _settle(self) -> None:
        """Wait for the batch being written and the commit in flight."""
        if self._feeding is not None:
            await self._feeding
            self._feeding = None
        if self._committing is not None:
            await self._committing
            self._committing = None

    def _due(self, idle: bool) -> bool:
        if not self._pending:
            return False
        age = time.monotonic() - self._oldest
        return (idle or len(self._pending) >= self.ack_every
                or self._pending_bytes >= self.max_pending_bytes or age >= self.ack_interval
                or (self.source.caught_up and age >= self.group_window))

    def _wait(self) -> float:
        """How long the next fetch may wait for a message: until what is pending is due."""
        if not self._pending:
            return self.fetch_timeout
        window = self.group_window if self.source.caught_up else self.ack_interval
        return min(self.fetch_timeout, max(0.001, self._oldest + window - time.monotonic()))

    async def _status(self) -> None:
        lag = await self.source.lag()
        self.stats.rejected = self._rejections.count
        recent, self._recent = self._recent, []
        fields = status_fields(self.stats, lag, self._rate(), recent)
        log.info("%s", status_line(fields), extra={"status": fields})

    def _rate(self) -> float:
        now = time.monotonic()
        last_t, last_n = self._rate_mark
        self._rate_mark = (now, self.stats.documents)
        return (self.stats.documents - last_n) / (now - last_t) if now > last_t else 0.0

    async def _open(self, stop: asyncio.Event) -> bool:
        """Open the source; False if stopped first (a standby waiting for its lease)."""
        opening = asyncio.ensure_future(self.source.open())
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({opening, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if opening in done:
            opening.result()  # the source's SourceError, if it could not open
            return True
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await opening
        return False

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; then drain what was received, commit, acknowledge.

        No message ends it: a document that cannot be routed, read or stored, and
        a beamtime that cannot be opened or written, are recorded (:class:`BeamtimeRouter`),
        acknowledged, and the service goes on.

        Raises
        ------
        SourceError
            The source cannot be opened.
        """
        self._rejections.install()
        self._rate_mark = (time.monotonic(), 0)
        closed = False
        try:
            if not await self._open(stop):
                log.info("stopped before the source opened")
                return
            await self._in_worker(self.router.open_fixed)  # a standby's only now
            if self.freeze_start_up:
                gc.collect()
                gc.freeze()
            log.info("serving %s", self.source.describe())
            recovered = await self.source.recover(self._recover_batch)
            if recovered:
                await self._commit()
                await self._settle()
                log.info("recovered: %d document(s) fed again, already stored", recovered)
            next_status = time.monotonic() + self.status_interval
            while not stop.is_set():
                new, again = await self.source.fetch(self._wait())
                if new:
                    if self._feeding is not None:  # one batch in the worker at a time
                        await self._feeding
                    if not self._pending:
                        self._oldest = time.monotonic()
                    self._feeding = asyncio.get_running_loop().run_in_executor(
                        self._worker, self._feed, new)
                    self.stats.documents += len(new)
                    self._pending.extend(new)
                    self._pending_bytes += sum(d.nbytes for d in new)
                if again:
                    self.stats.redelivered += len(again)
                    self._pending.extend(again)
                if self._due(idle=not new):
                    await self._commit()
                if self.status_interval and time.monotonic() >= next_status:
                    await self._status()
                    next_status = time.monotonic() + self.status_interval
            log.info("stopping: draining %d document(s) received", len(self._pending))
            await self._commit()
            await self._settle()
            closed = True
            await self._in_worker(self.router.close)
            self.stats.rejected = self._rejections.count
            if self.status_interval:
                await self._status()
        finally:
            if not closed:  # a failure: close the beamtimes; what was not acknowledged comes again
                try:
                    await self._in_worker(self.router.close)
                except Exception as exc:  # noqa: BLE001 - the first failure is the one raised
                    log.error("closing the beamtimes after a failure: %s", exc)
                if self._committing is not None:  # its acknowledgements are not sent
                    self._committing.cancel()
            self._rejections.remove()
            await self.source.close()
            self._worker.shutdown(wait=True)
