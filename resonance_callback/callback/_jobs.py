"""Units of work for the writer: a :class:`Job` (a function of the writer) or an :class:`EventJob`.

A job carries the document it came from, in the callback's layer, so a row the
store refuses is kept whole as rejected: :func:`execute` and
:func:`execute_events` run jobs and keep what the store refuses (a
:class:`DocumentError`, or any other exception that is not a storage failure)
with the reason, alone; the rest of its batch and its run go on. A run whose
start was refused is not open in the store, so its later documents are kept as
rejected too, each saying so. A storage failure (:class:`StorageError`) is raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from event_model.documents import Event

from resonance_callback.errors import (
    BeamtimeDatabaseError,
    DocumentError,
    StorageError,
    WriterStateError,
)
from resonance_callback.store import EventRow, RejectedRow, RowWriter

__all__ = ["MAX_BATCH", "EventJob", "Job", "execute", "execute_events", "reject"]

log = logging.getLogger("resonance_callback")

#: Most events stored by one ``write_events`` call.
MAX_BATCH = 1000


@dataclass
class Job:
    """One unit of work, with what it came from for error reports.

    ``doc`` is the document (or, for a rejected one, whatever arrived: kept
    whole if it is a dict, as its ``repr`` if not).
    """

    run: Callable[[RowWriter], object]
    name: str
    doc: object
    run_uid: str | None = None


class EventJob:
    """One event to store: its row (values and frames, split on the caller's thread).

    Parameters
    ----------
    row : EventRow
        What the store writes.
    doc : Event
        The event document, kept whole if the store refuses the row.
    run_uid : str or None
        The run, for error reports.
    """

    __slots__ = ("doc", "nbytes", "queued", "row", "run_uid")

    name = "event"

    def __init__(self, row: EventRow, doc: Event, run_uid: str | None) -> None:
        self.row = row
        self.doc = doc
        self.run_uid = run_uid
        self.nbytes = sum(f.nbytes for f in row.frames.values()) if row.frames else 0
        self.queued = time.monotonic()


def execute(writer: RowWriter, job: Job, refused_starts: set[str]) -> None:
    """Run a job; a document the store refuses is kept with the reason, never raised.

    A run whose start the store refused is not open in the store: its later
    documents are kept as rejected, saying so, rather than failing the writer.
    """
    try:
        job.run(writer)
    except DocumentError as exc:
        _refused(writer, job, str(exc), refused_starts)
    except WriterStateError as exc:
        if job.run_uid is None or job.run_uid not in refused_starts:
            raise
        reject(writer, job.name, job.doc, f"the start of run {job.run_uid} was rejected, so "
                                          f"its documents cannot be stored ({exc})", job.run_uid)
    except (StorageError, BeamtimeDatabaseError):
        raise
    except Exception as exc:  # a document the writer cannot take: kept, never raised
        _refused(writer, job, f"{type(exc).__name__}: {exc}", refused_starts)


def _refused(writer: RowWriter, job: Job, reason: str, refused_starts: set[str]) -> None:
    if job.name == "start" and job.run_uid is not None:
        refused_starts.add(job.run_uid)
    reject(writer, job.name, job.doc, reason, job.run_uid)


def execute_events(writer: RowWriter, jobs: list[EventJob], refused_starts: set[str]) -> None:
    """Store a batch of events, frames or not, with one store call; keep those refused."""
    refused = writer.write_events([job.row for job in jobs], since=jobs[0].queued)
    for refusal in refused:
        job = jobs[refusal.index]
        reason = refusal.reason
        if job.run_uid in refused_starts:
            reason = f"the start of run {job.run_uid} was rejected ({reason})"
        reject(writer, "event", job.doc, reason, job.run_uid)


def reject(writer: RowWriter, name: str, doc: object, reason: str, run_uid: str | None) -> None:
    """Keep a rejected document with its reason and log one warning line.

    ``doc`` is whatever arrived: a dict is kept whole, anything else as its ``repr``.
    """
    uid = doc.get("uid") or doc.get("datum_id") if isinstance(doc, dict) else None
    if uid is not None and type(uid) is not str:
        uid = repr(uid)
    log.warning("%s", f"rejected {name} {uid or '(no uid)'}: {reason}".encode(
        "utf-8", "backslashreplace").decode("utf-8"))  # a lone surrogate cannot be printed
    writer.records.record_rejected(RejectedRow(
        name, None if uid is None else str(uid), run_uid, reason,
        doc if isinstance(doc, dict) else {"value": repr(doc)}))
