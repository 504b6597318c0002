"""What a writer does with a row whose key is already stored: its conflict policy.

Every row goes in with ``INSERT ... ON CONFLICT DO NOTHING``; nothing is looked
up before a write. Only a row that was not inserted is handed to the writer's
policy, which the writer is given (never subclassed for):

* :class:`StrictConflicts` (the spec's :class:`~resonance_callback.store.RunWriter`):
  a :class:`DocumentError` naming the uid; nothing else is ever refused or skipped.
* :class:`~resonance_callback.store._idempotent.IdempotentConflicts` (the
  callback's, so a replayed stream changes nothing): the row is compared with
  the stored one, skipped when identical, refused when not.

:class:`ConflictPolicy` lists what a policy answers; :class:`WriterParts` is
what it may use of the open writer, given once at ``open``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from resonance_callback.errors import DocumentError
from resonance_callback.store._batch import Batch
from resonance_callback.store._rows import EventRow, ExternalRow, RejectedRow, StopRow, StreamRow

if TYPE_CHECKING:
    from resonance_callback.store._events import EventTable
    from resonance_callback.store._writer_runs import WriterRuns

__all__ = ["ConflictPolicy", "StrictConflicts", "WriterParts", "stored_twice"]


@dataclass
class WriterParts:
    """What an open writer is made of, for its policy and its collaborators."""

    batch: Batch
    runs: WriterRuns
    events: EventTable
    counts: Counter[str]
    #: Resume a run found stored as this writer's (:meth:`Storage.take_over`).
    take_over: Callable[[str], None]

    def stream_of(self, event_uid: str, stream_uid: str | None = None,
                  seq_num: int | None = None) -> str:
        """The open stream of a stored event (see :meth:`ImageRefs.stream_of`)."""
        return self.events.images.stream_of(event_uid, stream_uid, seq_num,
                                            last=self.events.last,
                                            open_streams=self.runs.streams)


def stored_twice(table: str, row: Mapping[str, Any], db_path: object) -> DocumentError:
    """The error for a row whose key is stored, naming its uid."""
    what = {"runs": "run", "streams": "stream", "events": "event"}.get(table, row.get("name"))
    return DocumentError(f"{what} {row.get('uid')} is already stored in {db_path}")


class ConflictPolicy(Protocol):
    """What a writer asks its conflict policy; see the module documentation."""

    def attach(self, parts: WriterParts) -> None:
        """The writer opened (or reopened): what the policy may use from now on."""

    def refusal(self, uid: str) -> str | None:
        """Why the documents of run or stream ``uid`` are refused, or None."""

    def conflict(self, table: str, row: dict[str, Any]) -> None:
        """A row of ``table`` whose key is stored: return to skip it, or raise."""

    def event_conflict(self, row: EventRow, frames: dict[str, np.ndarray],
                       columns: Sequence[Any] | None = None,
                       stored: Sequence[Any] | None = None) -> Mapping[str, np.ndarray]:
        """An event whose key is stored: the frames still to write, or raise.

        ``columns``: the row's values of ``EVENT_COLUMNS`` if the caller made them;
        ``stored``: the stored row's values of ``EVENT_COLUMNS[:-1]`` if it read them.
        """

    def identical_events(self, rows: Sequence[EventRow]) -> None:
        """Scalar events whose stored rows have the same columns: return to skip them all.

        Raise :class:`DocumentError` to have each decided by :meth:`event_conflict`.
        """

    def stream_opening(self, row: StreamRow) -> None:
        """A stream is about to open (a stream of a refused run is refused too)."""

    def external(self, row: ExternalRow) -> None:
        """An external document is about to be kept; raise if its run is refused."""

    def stopping(self, row: StopRow) -> None:
        """A run is about to close; raise if its stop differs from one stored."""

    def frame_stored(self, event_uid: str, field_name: str, image: np.ndarray,
                     stream_uid: str | None, seq_num: int | None) -> bool:
        """Whether this frame is stored already (then it is not written again)."""

    def rejection_stored(self, row: RejectedRow) -> bool:
        """Whether this rejection was stored before the writer opened."""

    def already_stored(self, uid: str) -> bool:
        """Whether the last document with this uid was found already stored."""


class StrictConflicts:
    """A stored key is refused, naming the uid: the spec's rule (``open_run`` raises)."""

    def __init__(self) -> None:
        self._db_path: object = "the beamtime"

    def attach(self, parts: WriterParts) -> None:
        """Note the database, for messages."""
        self._db_path = parts.batch.db_path

    def refusal(self, uid: str) -> str | None:
        """Nothing is refused for an earlier document."""
        return None

    def conflict(self, table: str, row: dict[str, Any]) -> None:
        """Raise :class:`DocumentError` naming the uid."""
        raise stored_twice(table, row, self._db_path)

    def event_conflict(self, row: EventRow, frames: dict[str, np.ndarray],
                       columns: Sequence[Any] | None = None,
                       stored: Sequence[Any] | None = None) -> Mapping[str, np.ndarray]:
        """Raise :class:`DocumentError` naming the event's uid."""
        raise stored_twice("events", {"uid": row.uid}, self._db_path)

    def identical_events(self, rows: Sequence[EventRow]) -> None:
        """Raise: each event is refused by :meth:`event_conflict`, naming its uid."""
        raise stored_twice("events", {"uid": rows[0].uid if rows else None}, self._db_path)

    def stream_opening(self, row: StreamRow) -> None:
        """Nothing to check."""

    def external(self, row: ExternalRow) -> None:
        """Nothing to check."""

    def stopping(self, row: StopRow) -> None:
        """Nothing to check."""

    def frame_stored(self, event_uid: str, field_name: str, image: np.ndarray,
                     stream_uid: str | None, seq_num: int | None) -> bool:
        """Never: every frame is written."""
        return False

    def rejection_stored(self, row: RejectedRow) -> bool:
        """Never: every rejection is stored."""
        return False

    def already_stored(self, uid: str) -> bool:
        """Never."""
        return False
