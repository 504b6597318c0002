"""Events rows for frames from detector files: derived, claimed by their event, merged.

Frames read from detector files need three things the spec's calls do not offer;
:class:`DerivedRows`, a collaborator of the writer
(:class:`~resonance_callback.store.RowWriter`), does them:

* :meth:`~DerivedRows.event_at`: the events row a frame belongs to, by
  ``(stream, seq_num)``; where a stream has no event documents (an ophyd-async
  fly scan) the writer creates the row itself, marked ``derived = 1``;
* :meth:`~DerivedRows.claim_derived_event`: an event document arriving
  after its frames (an ophyd-async step scan sends ``stream_datum`` first)
  takes over the derived row: the row gets the event's uid, time and values
  and ``derived = 0``; its ``image_refs`` follow. So
  there is one events row per ``seq_num``, in either order;
* :meth:`~DerivedRows.merge_event_data`: scalar values read from files
  (ophyd-async's per-frame sums) added to an events row's ``data``.
"""

from __future__ import annotations

import time as _time
import uuid
from collections.abc import Callable
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.errors import DocumentError
from resonance_callback.store._conflicts import WriterParts
from resonance_callback.store._rows import EventRow

__all__ = ["DERIVED_EVENTS", "DerivedRows"]

#: UUID5 namespace of the uids of derived events rows (``uuid5(ns, "{stream_uid}/{seq_num}")``).
DERIVED_EVENTS = uuid.UUID("6f1c0a52-5b8e-4c1e-9a57-2f1d3c7e8b10")


class DerivedRows:
    """Events rows for frames from detector files; see the module documentation.

    Parameters
    ----------
    parts : callable
        ``parts(what)``: the open writer's parts; raises :class:`WriterStateError`
        (saying it cannot do ``what``) when the writer is not open.
    """

    def __init__(self, parts: Callable[[str], WriterParts]) -> None:
        self.parts = parts

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
        parts = self.parts("find an event")
        parts.runs.require_stream("find an event", stream_uid)
        row = parts.batch.execute(
            "SELECT uid FROM events WHERE stream_uid = ? AND seq_num = ? "
            "ORDER BY derived, rowid LIMIT 1", (stream_uid, seq_num)).fetchone()
        if row is not None:
            return str(row[0])
        uid = uuid.uuid5(DERIVED_EVENTS, f"{stream_uid}/{seq_num}").hex
        parts.events.insert_one(EventRow(uid, stream_uid, seq_num,
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
        parts = self.parts("write an event")
        parts.runs.require_stream("write an event", stream_uid)
        batch = parts.batch
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
        parts.events.last = (uid, stream_uid)
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
        parts = self.parts("update an event")
        batch = parts.batch
        try:
            if stream_uid is None or seq_num is None:
                stream_uid = parts.stream_of(event_uid)
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
