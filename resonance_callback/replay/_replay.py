"""Replay saved document streams into a beamtime, as if the RunEngine emitted them again.

:func:`replay` reads a saved stream with
:func:`~resonance_callback.replay.formats.iter_records` (a file, a directory of
files, or standard input, in any format it reads) and hands every document, in
file order, to a :class:`~resonance_callback.callback.RunWriterCallback`:
several runs per file, interleaved runs, events and event pages, detector-file
documents. The database it writes is the one the callback would have written
live, row for row and frame for frame.

Replaying is idempotent: documents already stored are compared and skipped,
and documents that reuse a stored uid with other content are rejected (see
:class:`~resonance_callback.store.IdempotentConflicts`). So a stream replayed twice changes
nothing, and replaying the whole of a file whose earlier replay was cut off
(or interrupted) adds what is missing and closes the run.

A damaged record (a line that is not JSON, is cut, is binary garbage, is no
``(name, doc)`` pair, or is longer than ``max_record_bytes``) costs only
itself: it is kept in ``rejected_documents`` under the name ``"damaged"``
with its file, line, byte offset, size and first bytes, counted in the
summary, and the replay goes on with the next record (the next file where
the format has no boundary left to find). Runs a damaged record cuts stay
open (``exit_status`` NULL, as after a crash, never marked failed). Ctrl-C
stops between two documents: what was handed over is stored and committed,
the summary is complete, and replaying the same source again finishes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard

from resonance_callback._array_types import ArrayTypes
from resonance_callback.callback import RunWriterCallback
from resonance_callback.errors import ReplayError
from resonance_callback.replay._interrupt import InterruptGuard
from resonance_callback.replay._summary import DAMAGED_KEPT, ReplaySummary, damage_report
from resonance_callback.replay.formats import (
    DEFAULT_MAX_RECORD_BYTES,
    Damaged,
    ReadPosition,
    Source,
    iter_records,
)
from resonance_callback.store import WriteCounts

__all__ = ["ReplaySummary", "replay"]

#: Seconds between two calls of the ``progress`` callable.
PROGRESS_INTERVAL = 0.2


def replay(
    source: Source,
    db_path: Path | str,
    *,
    progress: Callable[[ReplaySummary], Any] | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    raise_on_damage: bool = True,
    **callback_options: Any,
) -> ReplaySummary:
    """Store every run of a saved document stream in a beamtime database.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        A file, a directory (its stream files, sorted by name, as one stream),
        ``"-"`` for standard input, or a file object opened in binary mode;
        see :func:`~resonance_callback.replay.formats.iter_located`.
    db_path : Path or str
        The beamtime database, created if missing.
    progress : callable, optional
        Called with the summary so far every :data:`PROGRESS_INTERVAL`
        seconds while documents are read, and once at the end.
    max_record_bytes : int, optional
        Largest line (or json-seq or msgpack record) read, 64 MiB by default:
        a longer one is a damaged record, reported by its size and skipped
        without being held in memory.
    raise_on_damage : bool, optional
        When True (the default), :class:`~resonance_callback.errors.ReplayError`
        is raised once the whole source is read if any record was damaged;
        when False the summary is returned and says so (``damaged_count``).
    **callback_options
        Keyword arguments of :class:`~resonance_callback.callback.RunWriterCallback`
        (``sample=``, ``root_map=``, ``allowed_roots=``, ...). ``base_dir``
        defaults to the directory of the file (or the directory) replayed, so
        relative detector-file roots resolve beside it; ``external_timeout``
        defaults to 0 (detector files of a saved run are not written late).
        ``threaded`` defaults to False for a file or a directory (documents are
        written on this thread, events in batches: no writer thread to share
        the interpreter with) and to True for standard input and file objects
        (a pipe may pause: the writer thread commits what came within
        ``commit_interval``).

    Returns
    -------
    ReplaySummary
        What was read, what was added, and every damaged record (file, line,
        byte offset and size, reason).

    Raises
    ------
    ReplayError
        When the source cannot be opened, or (with ``raise_on_damage``) after
        the whole source is read when a record was damaged: the message is
        the first damage's, naming file and line, and the exception's
        ``summary`` attribute holds the :class:`ReplaySummary`.
    KeyboardInterrupt
        On Ctrl-C (SIGINT), raised once what was read is stored and committed;
        its ``summary`` attribute holds the summary (``interrupted`` True).
        Replaying the same source again finishes: stored documents are skipped.
    OSError, sqlite3.DatabaseError
        When the database cannot be written (as the callback raises them).
    """
    options = {"external_timeout": 0.0, "threaded": not _is_path(source), **callback_options}
    if options.get("base_dir") is None:
        options["base_dir"] = _base_dir(source)
    started = time.monotonic()
    # A Ctrl-C while the beamtime opens, a document is handed over, the beamtime
    # closes or the last progress is shown waits for it to finish.
    with InterruptGuard() as guard:
        callback = RunWriterCallback(db_path, **options)
        summary = ReplaySummary(str(callback.db_path))
        feed = _Feed(callback, summary, progress, started, guard)
        try:
            before = callback.write_counts()
            feed.run(source, max_record_bytes)
        finally:
            guard.writing = True
            callback.close()
        _finish(summary, feed, before, callback.write_counts(), started)
        if progress is not None:
            progress(summary)
    if summary.interrupted:
        interrupt = KeyboardInterrupt(f"replay into {summary.db_path} interrupted")
        setattr(interrupt, "summary", summary)  # noqa: B010 - KeyboardInterrupt declares none
        raise interrupt
    if summary.error is not None and raise_on_damage:
        error = ReplayError(summary.error)
        error.summary = summary
        raise error
    return summary


def _finish(summary: ReplaySummary, feed: _Feed, before: WriteCounts, after: WriteCounts,
            started: float) -> None:
    """Fill in what the beamtime gained, and the first damage as the error."""
    summary.runs_added = after.runs - before.runs
    summary.events_added = after.events - before.events
    summary.frames_added = after.frames - before.frames
    summary.runs_resumed = after.resumed
    summary.already_stored = after.already_stored
    summary.rejected = after.rejected - feed.damage_rows  # damage is kept there too
    summary.runs_open = feed.open_runs()
    summary.seconds = time.monotonic() - started
    summary.bytes_read, summary.bytes_total = feed.position.bytes_read, feed.position.bytes_total
    summary.interrupted = feed.interrupted
    if summary.damaged_count:
        more = summary.damaged_count - 1
        summary.error = summary.damaged[0].message + (
            f" (and {more} more damaged record{'s' if more > 1 else ''})" if more else "")


class _Feed:
    """Hands the documents of one source to the callback, counting as it goes."""

    def __init__(self, callback: RunWriterCallback, summary: ReplaySummary,
                 progress: Callable[[ReplaySummary], Any] | None, started: float,
                 guard: InterruptGuard) -> None:
        self.callback = callback
        self.summary = summary
        self.progress = progress
        self.started = started
        self.guard = guard
        self.interrupted = False
        self.damage_rows = 0  # rows of damage kept in rejected_documents
        self.starts: list[str] = []
        self.stopped: set[str] = set()
        self.array_types = ArrayTypes()  # lists from text formats get their dtype back
        self.position = ReadPosition()

    def run(self, source: Source, max_record_bytes: int) -> None:
        guard = self.guard
        try:
            guard.writing = False
            if guard.requested:
                raise KeyboardInterrupt
            self._read(source, max_record_bytes)
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            guard.writing = True
        unkept = self.summary.damaged_count - DAMAGED_KEPT
        if unkept > 0:  # the beamtime keeps the first ones, then only how many more
            self._keep(
                {"files": sorted(set(self.summary.files)), "count": unkept},
                f"{unkept} more damaged records, not kept one by one (the first "
                f"{DAMAGED_KEPT} are)")

    def _read(self, source: Source, max_record_bytes: int) -> None:
        summary, guard = self.summary, self.guard
        due = time.monotonic() + PROGRESS_INTERVAL
        self.position = position = ReadPosition()
        for located in iter_records(source, position, max_record_bytes):
            if not summary.files or summary.files[-1] != located.path:
                summary.files.append(located.path)
            guard.writing = True  # a Ctrl-C from here waits for the document to be handed over
            if isinstance(located, Damaged):
                self._damaged(located)
            else:
                self._document(located.name, located.doc)
            guard.writing = False
            if guard.requested:
                raise KeyboardInterrupt
            if self.progress is not None and time.monotonic() >= due:
                summary.seconds = time.monotonic() - self.started
                summary.bytes_read, summary.bytes_total = (position.bytes_read,
                                                           position.bytes_total)
                self.progress(summary)
                due = time.monotonic() + PROGRESS_INTERVAL

    def _document(self, name: str, doc: dict[str, object]) -> None:
        summary = self.summary
        summary.documents += 1
        doc = self.array_types(name, doc)
        if name == "event":
            summary.events += 1
        elif name == "event_page":
            seq = doc.get("seq_num")
            summary.events += len(seq) if isinstance(seq, list) else 1
        elif name == "start":
            summary.runs += 1
            self.starts.append(str(doc.get("uid")))
        elif name == "stop":
            self.stopped.add(str(doc.get("run_start")))
        self.callback(name, doc)

    def _damaged(self, damaged: Damaged) -> None:
        self.summary.add_damaged(damaged)
        if self.summary.damaged_count <= DAMAGED_KEPT:
            self._keep(damaged.as_row(), damage_report(damaged))

    def _keep(self, content: dict[str, object], reason: str) -> None:
        """Keep damage in ``rejected_documents`` under the name ``damaged``."""
        self.damage_rows += 1
        self.callback.record_rejected("damaged", content, reason)

    def open_runs(self) -> list[str]:
        return [uid for uid in self.starts if uid not in self.stopped]


def _is_path(source: Source) -> TypeGuard[str | os.PathLike[str]]:
    """Whether ``source`` names a file or directory (not standard input, not a file object)."""
    return not hasattr(source, "read") and os.fspath(source) != "-"


def _base_dir(source: Source) -> Path | None:
    """The directory relative detector-file roots resolve against: the source's own."""
    if not _is_path(source):
        return None
    path = Path(source).absolute()
    return path if path.is_dir() else path.parent
