"""Run writer calls off the caller's thread, in order, with a bounded queue.

The callback routes documents on the RunEngine's thread and hands each
resulting unit of work (a function of the :class:`~resonance_callback.writer.RunWriter`)
to a :class:`WriterThread`, which runs them one by one on its own thread, so
compression and disk waits do not hold up the scan. The queue is bounded: a
writer that falls far behind slows the producer down rather than growing
memory without end. When idle, the thread commits the open transaction as
soon as it is ``commit_interval`` old, so rows are durable within about a
second even when no further document arrives.

A :class:`DocumentError` from a job is recorded as a rejected document; any
other exception stops further writes and is raised to the producer at its next
call (:meth:`raise_pending`) or at :meth:`drain`/:meth:`close`, never lost;
later jobs still run.
:class:`InlineWriter` runs the same jobs on the caller's thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import DocumentError
from .writer import RunWriter

__all__ = ["InlineWriter", "Job", "WriterThread"]

log = logging.getLogger("resonance_callback")


@dataclass
class Job:
    """One unit of work, with the document it came from for error reports."""

    run: Callable[[RunWriter], Any]
    name: str
    doc: dict[str, Any]
    run_uid: str | None = None


def _execute(writer: RunWriter, job: Job) -> None:
    try:
        job.run(writer)
    except DocumentError as exc:
        reject(writer, job.name, job.doc, str(exc), job.run_uid)


def reject(writer: RunWriter, name: str, doc: Any, reason: str, run_uid: str | None) -> None:
    """Keep a rejected document with its reason and log one warning line."""
    uid = doc.get("uid") or doc.get("datum_id") if isinstance(doc, dict) else None
    log.warning("rejected %s %s: %s", name, uid or "(no uid)", reason)
    writer.record_rejected(name, doc if isinstance(doc, dict) else {"value": repr(doc)},
                           reason, run_uid=run_uid)


class InlineWriter:
    """Run jobs immediately on the caller's thread (``threaded=False``)."""

    def __init__(self, writer: RunWriter) -> None:
        self.writer = writer

    def submit(self, job: Job) -> None:
        """Run ``job`` now."""
        _execute(self.writer, job)

    def raise_pending(self) -> None:
        """Nothing is ever pending."""

    def drain(self) -> None:
        """Commit what is pending."""
        self.writer.commit()

    def close(self) -> None:
        """Commit what is pending."""
        self.writer.commit()


_STOP = object()


class WriterThread:
    """Run jobs in order on one background thread.

    Parameters
    ----------
    writer : RunWriter
        An open writer, used only by the background thread from now on.
    maxsize : int, optional
        Jobs that may wait in the queue before :meth:`submit` blocks.
    """

    def __init__(self, writer: RunWriter, *, maxsize: int = 2048) -> None:
        self.writer = writer
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="resonance-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.writer.seconds_until_due())
            except queue.Empty:
                self._guard(self.writer.commit_if_due)
                continue
            try:
                if item is _STOP:
                    return
                if isinstance(item, threading.Event):  # a drain marker
                    self._guard(self.writer.commit)
                    item.set()
                else:
                    self._guard(lambda job=item: _execute(self.writer, job))
            finally:
                self._queue.task_done()

    def _guard(self, func: Callable[[], Any]) -> None:
        try:
            func()
        except BaseException as exc:  # kept and raised to the producer
            log.error("writer failed: %s", exc)
            if self._error is None:
                self._error = exc

    def raise_pending(self) -> None:
        """Raise the first error the background thread met, if any (once)."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, job: Job) -> None:
        """Queue ``job``; raise an earlier background error instead, if there is one."""
        self.raise_pending()
        if not self._thread.is_alive():
            raise RuntimeError("the resonance-callback writer thread has stopped")
        self._queue.put(job)

    def drain(self) -> None:
        """Wait until every queued job has run and been committed; raise any error."""
        if self._thread.is_alive():
            done = threading.Event()
            self._queue.put(done)
            done.wait()
        self.raise_pending()

    def close(self) -> None:
        """Drain, then stop the thread."""
        try:
            self.drain()
        finally:
            if self._thread.is_alive():
                self._queue.put(_STOP)
                self._thread.join()
