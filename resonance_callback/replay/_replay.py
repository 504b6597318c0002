"""Replay saved document streams into a beamtime, as if the RunEngine emitted them again.

:func:`replay` reads a saved stream with
:func:`~resonance_callback.replay.formats.iter_located` (a file, a directory of files,
or standard input, in any format it reads) and hands every document, in file
order, to a :class:`~resonance_callback.callback.RunWriterCallback`: several
runs per file, interleaved runs, events and event pages, detector-file
documents. The database it writes is the one the callback would have written
live, row for row and frame for frame.

Replaying is idempotent: documents already stored are compared and skipped,
and documents that reuse a stored uid with other content are rejected (see
:class:`~resonance_callback.store.IdempotentRunWriter`). So a stream replayed twice changes
nothing, and replaying the whole of a file whose earlier replay was cut off
adds what is missing and closes the run.

Damage (a truncated or corrupt file) stops the replay: every document before
it is stored, runs it cut off stay open (``exit_status`` NULL, as after a
crash, never marked failed), and the :class:`~resonance_callback.errors.ReplayError`
naming the file and line is raised with the summary attached.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from resonance_callback._array_types import ArrayTypes
from resonance_callback.callback import RunWriterCallback
from resonance_callback.errors import ReplayError
from resonance_callback.replay.formats import ReadPosition, Source, iter_located

__all__ = ["ReplaySummary", "replay"]

#: Seconds between two calls of the ``progress`` callable.
PROGRESS_INTERVAL = 0.2


@dataclass
class ReplaySummary:
    """What :func:`replay` read and what it changed in the beamtime.

    Attributes
    ----------
    db_path : str
        The beamtime database.
    files : list of str
        The files read, in order (``"<stdin>"`` for standard input).
    documents : int
        Documents read.
    runs : int
        ``start`` documents read.
    runs_added : int
        Runs new to the database.
    runs_resumed : int
        Runs whose start was already stored (complete, or completed now).
    runs_open : list of str
        Uids of runs started but not stopped in the stream (left open).
    events : int
        Events read (event documents and the rows of event pages).
    events_added, frames_added : int
        ``events`` and ``image_refs`` rows added to the database.
    already_stored : int
        Documents skipped because identical ones were stored.
    rejected : int
        Documents rejected (kept in ``rejected_documents`` with the reason).
    seconds : float
        Time taken.
    bytes_read, bytes_total : int, int or None
        Bytes of the source's files read so far, of their total size (None
        when it is not known: standard input, a pipe).
    error : str or None
        The damage that stopped the replay, naming file and line.
    """

    db_path: str
    files: list[str] = field(default_factory=list)
    documents: int = 0
    runs: int = 0
    runs_added: int = 0
    runs_resumed: int = 0
    runs_open: list[str] = field(default_factory=list)
    events: int = 0
    events_added: int = 0
    frames_added: int = 0
    already_stored: int = 0
    rejected: int = 0
    seconds: float = 0.0
    bytes_read: int = 0
    bytes_total: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True if the whole stream was read and no document was rejected."""
        return self.error is None and not self.rejected

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-able data, with ``ok``."""
        return {"ok": self.ok, **asdict(self)}

    def lines(self) -> list[str]:
        """The summary as text lines for a terminal."""
        rate = self.documents / self.seconds if self.seconds > 0 else 0.0
        out = [f"Replayed {self.documents} documents from {len(self.files)} file(s) into "
               f"{self.db_path} in {self.seconds:.1f} s ({rate:.0f} documents/s)"]
        out.append(f"runs: {self.runs} read, {self.runs_added} added, "
                   f"{self.runs_resumed} already stored")
        if self.runs_open:
            out.append(f"runs left open (no stop in the stream): {', '.join(self.runs_open)}")
        out.append(f"events: {self.events} read, {self.events_added} added; "
                   f"frames: {self.frames_added} added")
        out.append(f"already stored (skipped): {self.already_stored}; "
                   f"rejected documents: {self.rejected}")
        return out


def replay(
    source: Source,
    db_path: Path | str,
    *,
    progress: Callable[[ReplaySummary], Any] | None = None,
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
        What was read and what was added.

    Raises
    ------
    ReplayError
        When a file cannot be read or is truncated or corrupt. Everything
        before the damage is stored first; the exception's ``summary``
        attribute holds the :class:`ReplaySummary`.
    OSError, sqlite3.DatabaseError
        When the database cannot be written (as the callback raises them).
    """
    options = {"external_timeout": 0.0, "threaded": not _is_path(source), **callback_options}
    if options.get("base_dir") is None:
        options["base_dir"] = _base_dir(source)
    started = time.monotonic()
    callback = RunWriterCallback(db_path, **options)
    summary = ReplaySummary(str(callback.db_path))
    try:
        before = callback.write_counts()
        feed = _Feed(callback, summary, progress, started)
        error = feed.run(source)
    finally:
        callback.close()
    after = callback.write_counts()
    summary.runs_added = after.runs - before.runs
    summary.events_added = after.events - before.events
    summary.frames_added = after.frames - before.frames
    summary.runs_resumed = after.resumed
    summary.already_stored = after.already_stored
    summary.rejected = after.rejected
    summary.runs_open = feed.open_runs()
    summary.seconds = time.monotonic() - started
    summary.bytes_read, summary.bytes_total = feed.position.bytes_read, feed.position.bytes_total
    if progress is not None:
        progress(summary)
    if error is not None:
        summary.error = str(error)
        error.summary = summary
        raise error
    return summary


class _Feed:
    """Hands the documents of one source to the callback, counting as it goes."""

    def __init__(self, callback: RunWriterCallback, summary: ReplaySummary,
                 progress: Callable[[ReplaySummary], Any] | None, started: float) -> None:
        self.callback = callback
        self.summary = summary
        self.progress = progress
        self.started = started
        self.starts: list[str] = []
        self.stopped: set[str] = set()
        self.array_types = ArrayTypes()  # lists from text formats get their dtype back
        self.position = ReadPosition()

    def run(self, source: Source) -> ReplayError | None:
        summary, callback = self.summary, self.callback
        due = time.monotonic() + PROGRESS_INTERVAL
        self.position = position = ReadPosition()
        try:
            for located in iter_located(source, position):
                name, doc = located.name, located.doc
                if not summary.files or summary.files[-1] != located.path:
                    summary.files.append(located.path)
                summary.documents += 1
                doc = self.array_types(name, doc)
                if name in ("event", "event_page"):
                    seq = doc.get("seq_num")
                    summary.events += len(seq) if name == "event_page" and isinstance(
                        seq, list) else 1
                elif name == "start":
                    summary.runs += 1
                    self.starts.append(str(doc.get("uid")))
                elif name == "stop":
                    self.stopped.add(str(doc.get("run_start")))
                callback(name, doc)
                if self.progress is not None and time.monotonic() >= due:
                    summary.seconds = time.monotonic() - self.started
                    summary.bytes_read, summary.bytes_total = (position.bytes_read,
                                                               position.bytes_total)
                    self.progress(summary)
                    due = time.monotonic() + PROGRESS_INTERVAL
        except ReplayError as exc:
            return exc
        return None

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

