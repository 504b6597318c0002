"""Rows to the store off the caller's thread, in order, with a bounded queue.

The callback translates documents into rows on the RunEngine's thread and hands
each resulting unit of work to a :class:`WriterThread`, which runs them one by
one on its own thread, so compression and disk waits do not hold up the scan.
Most units are a :class:`Job` (a function of the
:class:`~resonance_callback.store.RowWriter`, writing a row); events are an
:class:`EventJob` (an :class:`~resonance_callback.store.EventRow`, no closure),
and the thread stores each run of consecutive scalar events with one
:meth:`RowWriter.write_events` call (multi-row INSERTs); an event with frames
goes through the same call, alone. The document stays with its job, in the
callback's layer, so a row the store refuses is kept whole as rejected.

Hand-off costs the producer next to nothing: jobs go on a :class:`collections.deque`,
and the thread is woken only when it sleeps. Once woken by a scalar event it
lingers up to :data:`LINGER` seconds (at most half of ``commit_interval``) to
let a batch gather (less when a non-event document, a drain or a full batch
arrives), so a scan pays a few wake-ups per second rather than one per event:
each wake-up of a second Python thread takes the GIL from the RunEngine, which
measured as the larger part of the callback's cost to a scan. Events with
frames linger too, for at most :data:`FRAME_LINGER` seconds or until
:data:`FRAME_WAKE_BYTES` of frames are queued, so that compression starts soon
while a detector's scan still pays one wake-up per several frames rather than
one per frame (a wake-up per 512x512 frame was most of the callback's time on
the RunEngine's thread).

The queue is bounded, in jobs and in bytes of queued frames: a writer that
falls far behind slows the producer down rather than growing memory without
end. When idle, the thread commits the open transaction as soon as it is
``commit_interval`` old, counted from when its oldest event was handed over,
so rows are durable within about a second even when no further document
arrives.

A document the store refuses (a :class:`DocumentError`, or any other
exception that is not a storage failure) is recorded as a rejected document
with the reason, alone: the rest of its batch and its run go on (a run whose
start was refused is not open in the store, so its later documents are kept as
rejected too, each saying so). A storage
failure (:class:`StorageError`) is raised to the producer at its next call
(:meth:`raise_pending`) or at :meth:`drain`/:meth:`close`, never lost.
:class:`~._inline.InlineWriter` runs the same jobs on the caller's thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from resonance_callback.callback._jobs import MAX_BATCH, EventJob, Job, execute, execute_events
from resonance_callback.store import RowWriter

__all__ = ["MAX_BATCH", "WriterThread"]

log = logging.getLogger("resonance_callback")

#: Seconds the writer thread waits, once woken by a scalar event, for more to batch
#: (0.02 s cost a 1,000-point ``count`` 7.7% against 4.7% with 0.2 s, in the #7
#: benchmark); capped at half of the writer's ``commit_interval``.
LINGER = 0.25

#: Queued events that wake a lingering writer thread at once.
WAKE_AT = 1000

#: Seconds the writer thread waits, once woken with frames queued, for more to arrive.
FRAME_LINGER = 0.05

#: Bytes of queued frames that wake the writer thread at once (so a large frame, or a
#: few, start compressing without waiting for :data:`FRAME_LINGER`).
FRAME_WAKE_BYTES = 4 * 1024**2


_STOP = object()

# States of the writer thread, as the producer sees them.
_BUSY, _IDLE, _LINGERING = 0, 1, 2


class WriterThread:
    """Run jobs in order on one background thread.

    Parameters
    ----------
    writer : RowWriter
        An open writer, used only by the background thread from now on.
    maxsize : int, optional
        Jobs that may wait in the queue before :meth:`submit` blocks.
    max_bytes : int, optional
        Bytes of queued frames beyond which :meth:`submit` blocks.
    """

    def __init__(self, writer: RowWriter, *, maxsize: int = 2048,
                 max_bytes: int = 256 * 1024**2) -> None:
        self.writer = writer
        self._maxsize = maxsize
        self._max_bytes = max_bytes
        self._jobs: deque[Any] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._state = _BUSY
        self._blocked = False  # the producer waits for room
        self._bytes_in = 0  # frame bytes queued, written by the producer only
        self._bytes_out = 0  # frame bytes taken, written by the thread only
        self._error: BaseException | None = None
        self._stopped = False  # set by the thread as it ends, however it ends
        self._refused_starts: set[str] = set()  # runs whose start the store refused
        self._failed = False  # a failure was logged
        self._thread = threading.Thread(target=self._loop, name="resonance-writer", daemon=True)
        self._thread.start()

    # -- the thread ---------------------------------------------------------------

    def _sleep(self, state: int, timeout: float | None) -> None:
        """Wait until the producer wakes us (or ``timeout``), unless work is already queued."""
        with self._cond:
            self._state = state
            if state == _IDLE and self._jobs:
                self._state = _BUSY
                return
            if state == _LINGERING and self._jobs and (
                    len(self._jobs) >= WAKE_AT or type(self._jobs[-1]) is not EventJob
                    or self._frame_bytes_waiting() >= FRAME_WAKE_BYTES):
                self._state = _BUSY
                return
            self._cond.wait(timeout)
            self._state = _BUSY

    def _frame_bytes_waiting(self) -> int:
        """Bytes of frames queued and not yet taken by the thread."""
        return self._bytes_in - self._bytes_out

    def _loop(self) -> None:
        try:
            self._run_jobs()
        finally:
            self._stopped = True

    def _run_jobs(self) -> None:
        jobs = self._jobs
        writer = self.writer
        linger = min(LINGER, writer.commit_interval / 2)
        polling = False  # frames came lately: look for more soon rather than be woken
        while True:
            if not jobs:
                if polling:  # the producer wakes us only for a full load of frames
                    due = writer.seconds_until_due()
                    self._sleep(_LINGERING, FRAME_LINGER if due is None
                                else min(due, FRAME_LINGER))
                    polling = False  # until frames come again
                else:
                    self._sleep(_IDLE, writer.seconds_until_due())
                    if jobs and type(jobs[0]) is EventJob:
                        self._sleep(_LINGERING, min(linger, FRAME_LINGER)
                                    if self._frame_bytes_waiting() else linger)
                if not jobs:
                    self._guard(writer.commit_if_due)
                    continue
            while jobs:
                job = jobs.popleft()
                kind = type(job)
                if kind is EventJob:  # events, with or without frames: one write path
                    batch = [job]
                    if not job.nbytes:  # consecutive scalar events: one batch
                        while (jobs and len(batch) < MAX_BATCH and type(jobs[0]) is EventJob
                               and not jobs[0].nbytes):
                            batch.append(jobs.popleft())
                    self._guard(execute_events, writer, batch, self._refused_starts)
                    if job.nbytes:
                        self._bytes_out += job.nbytes
                        polling = True
                elif kind is Job:
                    self._guard(execute, writer, job, self._refused_starts)
                elif job is _STOP:
                    return
                else:  # a drain marker
                    self._guard(writer.commit)
                    job.set()
                if self._blocked:
                    with self._cond:
                        self._cond.notify_all()
            self._guard(writer.commit_if_due)

    def _guard(self, func: Callable[..., Any], *args: Any) -> None:
        try:
            func(*args)
        except BaseException as exc:  # kept and raised to the producer
            if not self._failed:  # the first failure is logged; the callback reports the rest
                self._failed = True
                log.error("writer failed: %s", exc)
            if self._error is None:
                self._error = exc

    # -- the producer ---------------------------------------------------------------

    def raise_pending(self) -> None:
        """Raise the first error the background thread met, if any (once)."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _put(self, item: Any, urgent: bool) -> None:
        jobs = self._jobs
        if len(jobs) >= self._maxsize or self._bytes_in - self._bytes_out > self._max_bytes:
            self._wait_for_room()
        jobs.append(item)
        state = self._state
        if state and (state == _IDLE or urgent or len(jobs) >= WAKE_AT):
            with self._cond:
                self._cond.notify_all()

    def _wait_for_room(self) -> None:
        with self._cond:
            while ((len(self._jobs) >= self._maxsize
                    or self._bytes_in - self._bytes_out > self._max_bytes)
                   and self._thread.is_alive()):
                self._blocked = True
                self._cond.notify_all()
                self._cond.wait(0.1)
            self._blocked = False

    def submit(self, job: Job | EventJob) -> None:
        """Queue ``job``; raise an earlier background error instead, if there is one."""
        if self._error is not None:
            self.raise_pending()
        if self._stopped:
            raise RuntimeError("the resonance-callback writer thread has stopped")
        if type(job) is EventJob:
            if job.nbytes:  # frames: the thread is woken when enough are queued
                self._bytes_in += job.nbytes
                self._put(job, self._frame_bytes_waiting() >= FRAME_WAKE_BYTES)
            else:
                self._put(job, False)
        else:
            self._put(job, True)

    def drain(self) -> None:
        """Wait until every queued job has run and been committed; raise any error.

        What that guarantees: :mod:`resonance_callback.store._batch`.
        """
        if self._thread.is_alive():
            done = threading.Event()
            self._put(done, True)
            done.wait()
        self.raise_pending()

    def close(self) -> None:
        """Drain, then stop the thread."""
        try:
            self.drain()
        finally:
            if self._thread.is_alive():
                self._put(_STOP, True)
                self._thread.join()

    def discard(self) -> None:
        """Drop the jobs queued, stop the thread and forget its error (its storage failed)."""
        self._failed = True  # what fails from now on was reported already
        with self._cond:
            self._jobs.clear()
            self._bytes_out = self._bytes_in
        if self._thread.is_alive():
            self._put(_STOP, True)
            self._thread.join()
        self._error = None
