"""The rows the writer keeps besides runs, streams and events: derived events, records.

:class:`DerivedRowsMixin` is a base of
:class:`~resonance_callback.store._row_writer.RowWriter` (kept apart so the
row writer stays the core). It keeps what documents carried besides their
values (:meth:`~DerivedRowsMixin.record_rejected`,
:meth:`~DerivedRowsMixin.record_external`), and frames read from detector
files need four things the spec's calls do not offer:

* :meth:`~DerivedRowsMixin.event_at`: the events row a frame belongs to, by
  ``(stream, seq_num)``; where a stream has no event documents (an ophyd-async
  fly scan) the writer creates the row itself, marked ``derived = 1``;
* :meth:`~DerivedRowsMixin.claim_derived_event`: an event document arriving
  after its frames (an ophyd-async step scan sends ``stream_datum`` first)
  takes over the derived row: the row gets the event's uid, time and values
  and ``derived = 0``; its ``image_refs`` follow by ``ON UPDATE CASCADE``. So
  there is one events row per ``seq_num``, in either order;
* :meth:`~DerivedRowsMixin.merge_event_data`: scalar values read from files
  (ophyd-async's per-frame sums) added to an events row's ``data``;
* :meth:`~DerivedRowsMixin.record_unresolved`: a frame that could not be read,
  with the reason, in ``unresolved_frames``.
"""

from __future__ import annotations

import time as _time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

from resonance_callback import jsoncodec
from resonance_callback.errors import DocumentError
from resonance_callback.store._rows import EventRow, ExternalRow, RejectedRow, UnresolvedRow

if TYPE_CHECKING:
    from resonance_callback.store._batch import Batch
    from resonance_callback.store._events import EventTable, StreamState

#: Insert one external document, numbered after every one stored (by any writer).
_INSERT_EXTERNAL = (
    "INSERT INTO external_documents (name, uid, run_uid, document, ordinal) VALUES "
    "(?, ?, ?, ?, (SELECT coalesce(max(ordinal), 0) + 1 FROM external_documents)) "
    "ON CONFLICT DO NOTHING")

__all__ = ["DERIVED_EVENTS", "DerivedRowsMixin", "rejected_content", "storable_text"]


def storable_text(value: str | None) -> str | None:
    """A column value that is always valid UTF-8 (a lone surrogate becomes ``\\udXXX``)."""
    if value is None:
        return None
    value = str(value)
    if value.isascii():
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def rejected_content(content: Any) -> str:
    """A rejected document as JSON, always: whole, or clipped where nested too deep.

    Parameters
    ----------
    content : Any
        The document as it came.

    Returns
    -------
    str
        :func:`jsoncodec.dumps_whole` of it, or, when no encoder takes it, its ``repr``.
    """
    try:
        return jsoncodec.dumps_whole(content)
    except Exception:  # noqa: BLE001 - a value no encoder takes: keep what it looked like
        try:
            shown = repr(content)
        except Exception:  # noqa: BLE001 - not even a repr (too deep)
            shown = f"<{type(content).__name__} that cannot be shown>"
        return jsoncodec.dumps({"repr": shown})

#: UUID5 namespace of the uids of derived events rows (``uuid5(ns, "{stream_uid}/{seq_num}")``).
DERIVED_EVENTS = uuid.UUID("6f1c0a52-5b8e-4c1e-9a57-2f1d3c7e8b10")


class DerivedRowsMixin:
    """Events rows for frames from detector files; see the module documentation."""

    if TYPE_CHECKING:  # provided by RunWriter
        _events: EventTable | None
        _ordinal: int | None
        counts: Counter[str]

        def _batch_of(self, what: str) -> Batch: ...
        def _require_open(self, what: str) -> Any: ...
        def _require_stream(self, what: str, stream_uid: str | None = None
                            ) -> tuple[str, StreamState]: ...
        def _conflict(self, table: str, row: dict[str, Any]) -> None: ...
        def _event_stream(self, event_uid: str, stream_uid: str | None = None,
                          seq_num: int | None = None) -> str: ...

    def already_stored(self, uid: str) -> bool:
        """True if the last document with this uid was found already stored (never, here).

        :class:`~resonance_callback.store.IdempotentRunWriter`
        answers True for a document of a resumed run it skipped, so its
        detector files are not read again.
        """
        return False

    def event_at(self, stream_uid: str, seq_num: int, *, time: float | None = None) -> str:
        """Return the uid of the events row of ``seq_num`` in a stream, creating it if none.

        A created row is empty and marked ``derived = 1``: it stands for an
        event the documents did not carry (yet). Its uid is derived from the
        stream and seq_num (a UUID5), so writing the same documents again, in
        another database or by a replay, gives the same uid.

        Parameters
        ----------
        stream_uid : str
            The open stream (descriptor uid).
        seq_num : int
            The event's sequence number.
        time : float or None, optional
            The time of a created row; now if None.

        Returns
        -------
        str
            The row's event uid.

        Raises
        ------
        RuntimeError
            If the writer, a run or the stream is not open (:class:`WriterStateError`).
        """
        self._require_stream("find an event", stream_uid)
        row = self._batch_of("find an event").execute(
            "SELECT uid FROM events WHERE stream_uid = ? AND seq_num = ? "
            "ORDER BY derived, rowid LIMIT 1", (stream_uid, seq_num)).fetchone()
        if row is not None:
            return row[0]
        uid = uuid.uuid5(DERIVED_EVENTS, f"{stream_uid}/{seq_num}").hex
        assert self._events is not None
        self._events.insert_one(EventRow(uid, stream_uid, seq_num,
                                         _time.time() if time is None else time, {}, {}),
                                derived=True)
        return uid

    def claim_derived_event(
        self,
        stream_uid: str,
        seq_num: int,
        *,
        uid: str,
        time: float,
        data: dict[str, Any],
        timestamps: dict[str, float] | None = None,
        filled: dict[str, Any] | None = None,
    ) -> bool:
        """Turn the derived row of ``seq_num`` into this event, if there is one.

        The row keeps the values already read from files; ``data`` and
        ``timestamps`` are added over them. Its ``image_refs`` follow the new
        uid.

        Parameters
        ----------
        stream_uid : str
            The open stream (descriptor uid).
        seq_num : int
            The event's sequence number.
        uid, time : str, float
            The event document's uid and time.
        data, timestamps, filled : dict
            The event's values (those not stored as frames), their timestamps,
            and its ``filled`` map.

        Returns
        -------
        bool
            True if a derived row became this event; False if there was none
            (then write the event with ``write_event``).

        Raises
        ------
        ValueError
            If an event with ``uid`` is already stored (:class:`DocumentError`).
        """
        self._require_stream("write an event", stream_uid)
        batch = self._batch_of("write an event")
        row = batch.execute(
            "SELECT rowid, uid, data, timestamps FROM events WHERE stream_uid = ? AND "
            "seq_num = ? AND derived = 1 ORDER BY rowid LIMIT 1", (stream_uid, seq_num)).fetchone()
        if row is None:
            return False
        rowid, derived_uid, stored, stored_stamps = row
        merged = {**(jsoncodec.loads(stored) or {}), **data}
        stamps = {**(jsoncodec.loads(stored_stamps) or {}), **(timestamps or {})}
        try:
            with batch.unit():
                batch.execute(
                    "UPDATE events SET uid = ?, time = ?, data = ?, timestamps = ?, filled = ?, "
                    "derived = 0 WHERE rowid = ?",
                    (uid, time, jsoncodec.dumps(merged), jsoncodec.dumps(stamps),
                     None if filled is None else jsoncodec.dumps(filled), rowid))
                # image_refs follow the row's uid (no foreign key since schema 4)
                batch.execute("UPDATE image_refs SET event_uid = ? WHERE event_uid = ?",
                              (uid, derived_uid))
        except DocumentError as exc:  # this event is stored already (its key is taken)
            raise DocumentError(f"event {uid} (seq_num {seq_num} of stream {stream_uid}): "
                                f"{exc}") from exc
        assert self._events is not None
        self._events.last = (uid, stream_uid)
        batch.count()
        return True

    def merge_event_data(
        self,
        event_uid: str,
        data: dict[str, Any],
        timestamps: dict[str, float] | None = None,
        *,
        stream_uid: str | None = None,
        seq_num: int | None = None,
    ) -> None:
        """Add values to a stored event's ``data`` (and ``timestamps``).

        Parameters
        ----------
        event_uid : str
            The events row.
        data : dict
            Values to set, keyed by field; they replace values of the same key.
        timestamps : dict or None, optional
            Their timestamps.
        stream_uid, seq_num : str and int, optional
            Where the event is, when the caller knows it (one index lookup);
            otherwise the event is searched for in the open streams.

        Raises
        ------
        ValueError
            If there is no such event (:class:`DocumentError`).
        """
        batch = self._batch_of("update an event")
        try:
            if stream_uid is None or seq_num is None:
                stream_uid = self._event_stream(event_uid)
                seq_num = batch.execute("SELECT seq_num FROM events WHERE stream_uid = ? AND "
                                        "uid = ?", (stream_uid, event_uid)).fetchone()[0]
        except DocumentError:
            row = None
        else:
            key = (stream_uid, seq_num, event_uid)
            row = batch.execute("SELECT rowid, data, timestamps FROM events WHERE "
                                "stream_uid = ? AND seq_num = ? AND uid = ?", key).fetchone()
        if row is None:
            raise DocumentError(f"cannot add {sorted(data)} to event {event_uid}: no such event")
        merged = {**(jsoncodec.loads(row[1]) or {}), **data}
        stamps = {**(jsoncodec.loads(row[2]) or {}), **(timestamps or {})}
        batch.execute("UPDATE events SET data = ?, timestamps = ? WHERE rowid = ?",
                      (jsoncodec.dumps(merged), jsoncodec.dumps(stamps), row[0]))

    def record_unresolved(self, row: UnresolvedRow) -> None:
        """Record a frame that could not be read into the store, with the reason.

        Parameters
        ----------
        row : UnresolvedRow
            The data key, the reference, the reason and where it belongs.
        """
        batch = self._batch_of("record an unresolved frame")
        batch.execute(
            "INSERT INTO unresolved_frames (run_uid, stream_uid, field_name, seq_num, "
            "reference, reason, time) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.run_uid, row.stream_uid, row.field_name, row.seq_num, row.reference,
             row.reason, _time.time()),
        )
        batch.count()

    def record_rejected(self, row: RejectedRow) -> None:
        """Keep a document that could not be stored as it came, with the reason.

        Parameters
        ----------
        row : RejectedRow
            Its name, uid, run, the reason and the content as it came (kept
            whole as JSON, or its ``repr`` if it cannot be encoded).
        """
        batch = self._batch_of("record a rejected document")
        self.counts["rejected"] += 1
        batch.execute(
            "INSERT INTO rejected_documents (run_uid, name, uid, reason, document, time) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (*map(storable_text, (row.run_uid, row.name, row.uid, row.reason)),
             rejected_content(row.content), _time.time()),
        )
        batch.count()

    def record_external(self, row: ExternalRow) -> None:
        """Keep a resource, datum, stream_resource or stream_datum document for provenance.

        Parameters
        ----------
        row : ExternalRow
            The document's name, uid, run, and the document kept whole.

        Raises
        ------
        ValueError
            If a document of this name and uid is already stored (:class:`DocumentError`).
        """
        batch = self._batch_of("record an external document")
        columns = {"name": row.name, "uid": row.uid, "run_uid": row.run_uid,
                   "document": jsoncodec.dumps(row.document)}
        # The number is taken in the same statement, under the write lock, so writers
        # in other processes never hand out the same one (an index makes it cheap).
        with batch.unit():
            if batch.execute(_INSERT_EXTERNAL, tuple(columns.values())).rowcount != 1:
                self._conflict("external_documents", columns)
        batch.count()
