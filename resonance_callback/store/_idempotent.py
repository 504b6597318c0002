"""Documents stored twice change nothing: the conflict policy the callback's writer uses.

:class:`IdempotentConflicts` is the policy (:mod:`~resonance_callback.store._conflicts`)
given to the callback's :class:`~resonance_callback.store.RowWriter` (the spec's
:class:`~resonance_callback.store.RunWriter`, whose ``open_run`` raises for a
stored uid, has :class:`~resonance_callback.store._conflicts.StrictConflicts`);
it lets a saved document stream be replayed into a
beamtime that already holds some or all of its runs:

* A ``start`` whose uid is already stored *in the database* (from an earlier
  session: the callback itself rejects a start it received twice) is compared
  with the stored run: the plan name, scan id, time and the whole start
  document. Identical, the run is **resumed**: it is open again in the writer,
  rows already stored are skipped and only what is missing is added (the rest
  of a run whose earlier replay was cut off, and its stop). Different, the
  start is rejected naming the uid, and so is every later document of that run.
* In a resumed run, a descriptor, event, resource, datum, stream_resource or
  stream_datum whose key is stored (an event's: its stream, seq_num and uid) is
  compared the same way (the row the writer
  would store against the stored row): identical, it is skipped, with its
  frames (no second ``image_refs`` row, nothing appended to Zarr, no detector
  file opened again); different, it is rejected naming the uid. An event row's
  ``data`` may hold more than the event (values read from detector files): the
  event's own values must match. Frames are checked by shape, not re-read.
* A ``stop`` of a resumed run that already has a stop must match it; a run
  stored without a stop (cut off) is closed by it.
* A rejection identical to one stored before this writer was opened (same
  document, run, name, uid and reason) is not stored again.

Cost on the normal path: nothing is looked up before a write. Every row goes
in with ``INSERT ... ON CONFLICT DO NOTHING``; only a row that was not
inserted (its key is stored) is compared with the stored row
(:meth:`IdempotentConflicts.conflict`), and frames only for events of
resumed runs. Scalar events of a stream found stored (a file replayed again)
are compared a chunk at a time before inserting, in SQLite, and those stored
alike are skipped together (:meth:`IdempotentConflicts.identical_events`;
see :mod:`~resonance_callback.store._stored_events`). Any row whose key is
stored and whose content is the same is skipped, in a run resumed from an
earlier session, in a run this writer opened (a document received twice), or in a run another writer
process stores at the same time (the same stream replayed twice at once), so
each is stored once; its run's frames are then compared, not written again. A
``start`` or ``descriptor`` received twice by one callback is rejected by the
callback itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from resonance_callback import jsoncodec
from resonance_callback.errors import DocumentError
from resonance_callback.store._conflicts import WriterParts, stored_twice
from resonance_callback.store._event_columns import EVENT_COLUMNS, event_columns
from resonance_callback.store._records import rejected_content, storable_text
from resonance_callback.store._rows import EventRow, ExternalRow, RejectedRow, StopRow, StreamRow
from resonance_callback.store._writer_runs import RefusedError

__all__ = ["IdempotentConflicts"]

#: Primary keys of the tables whose rows come from documents with uids.
_KEYS = {
    "runs": ("uid",),
    "streams": ("uid",),
    "events": ("stream_uid", "seq_num", "uid"),  # the events table's key (schema 4)
    "external_documents": ("run_uid", "name", "uid"),  # per run since schema 6
}
#: What each table's rows are, in messages.
_NAMES = {"runs": "start", "streams": "descriptor", "events": "event"}
#: Columns not compared: set by the callback's options or the arrival order, not the document.
_IGNORED = frozenset({"sample_id", "ordinal"})
#: JSON columns, compared as values (key order and number formatting aside).
_JSON = frozenset({"metadata", "data_keys", "configuration", "document", "filled",
                   "stop_document"})
#: JSON objects the stored row may hold more of (values read from detector files).
_SUBSET = frozenset({"data", "timestamps"})


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _differences(new: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """Names of the columns where the row to store differs from the stored one."""
    differ = []
    for column, value in new.items():
        if column in _IGNORED:
            continue
        old = stored[column]
        if value == old:  # the same text or value (a replay's rows are written alike)
            continue
        if column in _SUBSET:
            mine, theirs = _json(value) or {}, _json(old) or {}
            same = all(k in theirs and _canonical(theirs[k]) == _canonical(v)
                       for k, v in mine.items())
        elif column in _JSON:
            same = _canonical(_json(value)) == _canonical(_json(old))
        else:
            same = value == old
        if not same:
            differ.append(column)
    return differ


class IdempotentConflicts:
    """Skip rows identical to stored ones, refuse different ones; see the module documentation.

    What it found goes to the writer's ``counts``: ``"resumed"`` (runs whose
    start was already stored), ``"already_stored"`` (documents skipped because
    identical ones were stored) and ``"rejected"`` (rejections already stored,
    counted again).
    """

    def __init__(self) -> None:
        self._parts: WriterParts | None = None
        self._resumed: set[str] = set()  # runs stored before this session, open again
        self._refused: dict[str, str] = {}  # run or stream uid -> why its documents are refused
        self._found: str | None = None  # uid of the last document found already stored
        self._rejected_before = 0  # rejected_documents ids up to this were stored earlier

    @property
    def parts(self) -> WriterParts:
        """The open writer's parts (set at ``attach``)."""
        assert self._parts is not None, "the policy is used before its writer opened"
        return self._parts

    def attach(self, parts: WriterParts) -> None:
        """Note which rejections are already stored."""
        self._parts = parts
        row = parts.batch.execute("SELECT max(id) FROM rejected_documents").fetchone()
        self._rejected_before = row[0] or 0

    def refusal(self, uid: str) -> str | None:
        """Why run or stream ``uid`` is refused (its start or descriptor differs), or None."""
        return self._refused.get(uid)

    def already_stored(self, uid: str) -> bool:
        """True if the last event or external document with this uid was found already stored."""
        return uid == self._found

    # -- a row whose key is stored: compare it with the stored row ---------------------

    def conflict(self, table: str, row: dict[str, Any],
                 stored: Sequence[Any] | None = None) -> None:
        """Accept a row whose key is stored if the stored row is the same; else raise.

        ``stored``: the stored row's values of the same columns, if the caller read them.
        """
        parts = self.parts
        run = self._run_of_row(table, row)
        keys = _KEYS[table]
        if stored is None:
            stored = parts.batch.execute(
                f"SELECT {', '.join(row)} FROM {table} WHERE "  # IS: a run_uid may be NULL
                + " AND ".join(f"{key} IS ?" for key in keys),
                [row[key] for key in keys]).fetchone()
        if stored is None:
            raise stored_twice(table, row, parts.batch.db_path)
        differ = _differences(row, dict(zip(row, stored, strict=True)))
        uid = row["uid"]
        what = _NAMES.get(table) or row["name"]
        if differ:
            if table in ("runs", "streams"):
                self._refused[uid] = f"its {what} {uid} differs from the one stored"
            raise DocumentError(f"{what} {uid} is already stored with different content "
                                f"({', '.join(differ)})")
        parts.counts["already_stored"] += 1
        self._found = uid
        if table != "runs" and run is not None:  # stored by an earlier session or another
            self._resumed.add(run)  # writer: its frames are compared, not written again
        if table == "runs":
            parts.counts["resumed"] += 1
            self._resumed.add(uid)
            parts.take_over(uid)  # its frames past a dead writer's last commit go

    def event_conflict(self, row: EventRow, frames: dict[str, np.ndarray],
                       columns: Sequence[Any] | None = None,
                       stored: Sequence[Any] | None = None) -> Mapping[str, np.ndarray]:
        """An event of a resumed run identical to the stored one: only its missing frames."""
        if columns is None:
            columns = event_columns(row)
        self.conflict("events", dict(zip(EVENT_COLUMNS[:-1], columns, strict=False)), stored)
        return {key: frame for key, frame in frames.items()
                if not self.frame_stored(row.uid, key, frame, row.stream_uid, row.seq_num)}

    def identical_events(self, rows: Sequence[EventRow]) -> None:
        """Scalar events whose stored rows have the same columns: skipped, counted together.

        What :meth:`conflict` does for each of them when it finds no difference.
        """
        if not rows:
            return
        parts = self.parts
        parts.counts["already_stored"] += len(rows)
        self._found = rows[-1].uid
        streams = parts.runs.streams
        for stream_uid in {row.stream_uid for row in rows}:
            state = streams.get(stream_uid)
            if state is not None:  # stored by an earlier session or another writer:
                self._resumed.add(state.run_uid)  # its frames are compared, not written

    def _run_of_row(self, table: str, row: dict[str, Any]) -> str | None:
        if table == "events":
            state = self.parts.runs.streams.get(row["stream_uid"])
            return state.run_uid if state is not None else None
        return row.get("run_uid")

    # -- runs and streams refused for a different start or descriptor ------------------

    def stream_opening(self, row: StreamRow) -> None:
        """A stream of a refused run is refused too."""
        if row.run_uid in self._refused:
            self._refused[row.uid] = self._refused[row.run_uid]

    def external(self, row: ExternalRow) -> None:
        """Refuse an external document of a refused run."""
        if row.run_uid is not None and row.run_uid in self._refused:
            raise RefusedError(f"cannot keep {row.name} {row.uid}: run {row.run_uid} is "
                               f"refused: {self._refused[row.run_uid]}")

    def stopping(self, row: StopRow) -> None:
        """A resumed run's stored stop must match this one."""
        if row.run_uid in self._resumed and row.document is not None:
            stored = self.parts.batch.execute(
                "SELECT stop_document FROM runs WHERE uid = ?", (row.run_uid,)).fetchone()
            if stored is not None and stored[0] is not None:
                if _canonical(_json(stored[0])) != _canonical(
                        _json(jsoncodec.dumps(row.document))):
                    raise DocumentError(f"stop {row.document.get('uid')} of run {row.run_uid} "
                                        "differs from the stop already stored")
                self.parts.counts["already_stored"] += 1

    # -- frames of events already stored ------------------------------------------------

    def frame_stored(self, event_uid: str, field_name: str, image: np.ndarray,
                     stream_uid: str | None = None, seq_num: int | None = None) -> bool:
        """Whether a resumed run already has this frame (checked by shape, not re-read)."""
        if not self._resumed:
            return False
        parts = self.parts
        try:
            stream_uid = parts.stream_of(event_uid, stream_uid, seq_num)
        except DocumentError:
            return False  # write_image says what is wrong
        state = parts.runs.streams.get(stream_uid)
        if state is None or state.run_uid not in self._resumed:
            return False
        batch = parts.batch
        if field_name not in state.arrays:  # the array this stream's frames went to
            row = batch.execute(
                "SELECT i.zarr_path FROM image_refs i JOIN events e ON e.uid = i.event_uid "
                "WHERE e.stream_uid = ? AND i.field_name = ? ORDER BY i.rowid DESC LIMIT 1",
                (stream_uid, field_name)).fetchone()
            if row is not None:
                state.arrays[field_name] = row[0]
        row = batch.execute("SELECT zarr_path FROM image_refs WHERE event_uid = ? AND "
                            "field_name = ?", (event_uid, field_name)).fetchone()
        if row is None:
            return False
        layout = batch.frames.frame_layout(row[0])
        shape = np.shape(image)
        if layout is not None and tuple(layout[0]) != shape:
            raise DocumentError(f"event {event_uid}: a frame of {field_name!r} of shape "
                                f"{tuple(layout[0])} is already stored, not {shape}")
        return True

    # -- rejections ------------------------------------------------------------------------

    def rejection_stored(self, row: RejectedRow) -> bool:
        """Whether an identical rejection was stored before the writer opened (counted again)."""
        if not self._rejected_before:
            return False
        content = rejected_content(row.content)
        found = self.parts.batch.execute(
            "SELECT 1 FROM rejected_documents WHERE id <= ? AND run_uid IS ? AND name = ? "
            "AND uid IS ? AND reason = ? AND document = ? LIMIT 1",
            (self._rejected_before,
             *map(storable_text, (row.run_uid, row.name, row.uid, row.reason)),
             content)).fetchone()
        return found is not None
