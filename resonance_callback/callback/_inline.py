"""``threaded=False``: jobs run on the caller's thread, consecutive scalar events in batches.

:class:`InlineWriter` runs the writer thread's jobs on the caller's thread, with
the writer thread's batching: scalar events are held (up to ``commit_every``,
at most :data:`~resonance_callback.callback._worker.MAX_BATCH`) and stored with one
:meth:`RowWriter.write_events` call, not one call each. What is visible and durable
does not change: held events are stored before any other job (a descriptor, a
stop, an event with frames, a rejected document), at :meth:`drain` and
:meth:`close`, as soon as ``commit_every`` of them are held, and at the first
event that comes ``commit_interval`` seconds after the oldest held one; an event
stored inline one by one was not committed before those points either (the
store commits every ``commit_every`` events, or at the first call after
``commit_interval``). ``commit_every=1`` still stores and commits every event as
it comes.

No second thread means no GIL hand-offs: what a file replay needs
(:func:`resonance_callback.replay.replay` uses it for files), where nothing
waits on the caller and the writer thread's only effect was the contention.
"""

from __future__ import annotations

import time

from resonance_callback.callback._jobs import MAX_BATCH, EventJob, Job, execute, execute_events
from resonance_callback.store import RowWriter

__all__ = ["InlineWriter"]


class InlineWriter:
    """Run jobs on the caller's thread, storing consecutive scalar events in batches.

    Parameters
    ----------
    writer : RowWriter
        An open writer.
    commit_every : int, optional
        The writer's ``commit_every``: at most this many events are held.
    """

    def __init__(self, writer: RowWriter, commit_every: int = MAX_BATCH) -> None:
        self.writer = writer
        self._refused_starts: set[str] = set()  # runs whose start the store refused
        self._limit = max(1, min(commit_every, MAX_BATCH))
        self._held: list[EventJob] = []

    def submit(self, job: Job | EventJob) -> None:
        """Hold a scalar event; store what is held, then run any other job now."""
        if type(job) is EventJob and not job.nbytes:
            held = self._held
            if held and time.monotonic() - held[0].queued >= self.writer.commit_interval:
                self._store_held()  # takes the held list: the job goes into the new one
            self._held.append(job)
            if len(self._held) >= self._limit:
                self._store_held()
            return
        self._store_held()
        if isinstance(job, EventJob):
            execute_events(self.writer, [job], self._refused_starts)
        else:
            execute(self.writer, job, self._refused_starts)

    def raise_pending(self) -> None:
        """Nothing is ever pending: a failure was raised where it happened."""

    def _store_held(self) -> None:
        """Store the events held, if any, in one batch."""
        if self._held:
            jobs, self._held = self._held, []
            execute_events(self.writer, jobs, self._refused_starts)

    def drain(self) -> None:
        """Store the events held, then commit what is pending."""
        self._store_held()
        self.writer.commit()

    def discard(self) -> None:
        """Drop the events held (their storage failed)."""
        self._held = []

    def close(self) -> None:
        """Store the events held, then commit what is pending."""
        self._store_held()
        self.writer.commit()
