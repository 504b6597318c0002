"""Events and their frames: one write path for a batch of :class:`EventRow`, with or without frames.

Scalar events of a batch go in multi-row ``INSERT ... ON CONFLICT DO NOTHING``
statements (the measured fast path: one statement per few thousand rows, so the
writer thread gives up the GIL once per chunk, not once per row). An event with
frames is one unit of work: its row, its frames appended to the
:class:`FrameStore` and their ``image_refs`` rows, in one savepoint, so readers
see an event and its frames together or not at all.

A row whose key is already stored (``(stream_uid, seq_num, uid)`` since schema 4:
the same event document again) is handed to the writer's conflict rule
(rejected, or skipped when identical to the stored one); a row the schema
refuses or that cannot be encoded is refused alone. Refused rows are returned
as :class:`Refusal`; the rest of the batch is stored.

One value costs only itself: a frame that does not fit its field's array (another
shape, a dtype the array cannot hold without loss, elements that are not numbers)
is left out and the rest of its event (its row, its other frames) is stored; the
:class:`Refusal` says which frame and why, with ``stored`` set. The frame never
goes to a second array of its own dtype: a field's frames stay one array, which
readers stack.
"""
from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from resonance_callback.errors import DocumentError, FrameShapeError, StorageError, WriterStateError
from resonance_callback.store._batch import REFUSED, Batch, insert_sql
from resonance_callback.store._event_columns import (
    EVENT_COLUMNS,
    ROWS_PER_INSERT,
    WIDTH,
    StreamState,
    check_event,
    culprit,
    event_columns,
    not_a_value,
    statement_parts,
)
from resonance_callback.store._images import ImageRefs
from resonance_callback.store._rows import EventRow, Refusal
from resonance_callback.store._stored_events import Conflict, Identical, StoredEvents
from resonance_callback.store._unstorable import without_unstorable

__all__ = ["ROWS_PER_INSERT", "Conflict", "EventTable", "statement_parts"]


class EventTable:
    """Writes batches of events and their frames; see the module documentation.

    Parameters
    ----------
    batch : Batch
        The connection and its batch transaction.
    stream : callable
        ``stream(stream_uid)`` returns the open stream's state or raises
        :class:`WriterStateError` (or :class:`DocumentError` for a refused one).
    conflict : callable
        The writer's rule for an event whose key is already stored: return the
        frames still to write (the row is identical: skipped), or raise
        :class:`DocumentError` naming the uid.
    identical : callable
        The writer's rule for scalar events found stored with equal columns
        (:mod:`~resonance_callback.store._stored_events`).
    """

    def __init__(self, batch: Batch, stream: Callable[[str], StreamState],
                 conflict: Conflict, identical: Identical) -> None:
        self.batch = batch
        self.stream = stream
        self.conflict = conflict
        self.stored = StoredEvents(batch, identical, conflict)
        self.images = ImageRefs(batch)
        self.last: tuple[str, str] = ("", "")  # (event uid, stream uid) last written
        self.first = True  # no INSERT prepared on the connection yet (see statement_parts)

    def write(self, rows: Sequence[EventRow], *, since: float | None = None) -> list[Refusal]:
        """Store ``rows`` in chunks of at most ``commit_every``; return those refused."""
        batch = self.batch
        refused: list[Refusal] = []
        done = 0
        while done < len(rows):
            chunk = rows[done:done + max(1, batch.commit_every - batch.pending)]
            stored = self._chunk(chunk, done, refused, since)
            since = None  # a later chunk's transaction starts when it is written
            done += len(chunk)
            if stored:
                batch.count(stored)
            else:
                batch.maybe_commit()
        refused.sort(key=lambda refusal: refusal.index)
        return refused

    def _chunk(self, chunk: Sequence[EventRow], offset: int, refused: list[Refusal],
               since: float | None) -> int:
        """Write one chunk; return how many rows it stored."""
        params: list[Any] = []
        scalar: list[tuple[int, EventRow]] = []
        framed: list[tuple[int, EventRow]] = []
        notes: dict[int, str] = {}  # rows stored without a value they held, and why
        last: tuple[str, StreamState] | None = None  # the stream of the row before
        streams: dict[str, StreamState] = {}  # the streams of the scalar rows
        for i, row in enumerate(chunk, start=offset):
            try:
                if last is None or last[0] != row.stream_uid:
                    last = (row.stream_uid, self.stream(row.stream_uid))
                state = last[1]
                check_event(row)
                if row.seq_num > state.seq_num:
                    state.seq_num = row.seq_num
                if row.frames:
                    framed.append((i, row))
                    continue
                try:
                    columns = event_columns(row)
                except Exception:  # a value the encoder refuses, or too large
                    fixed = without_unstorable(row)
                    if fixed is None:
                        raise
                    row, note = fixed
                    columns = event_columns(row)
                    notes[i] = f"event {row.uid}: {note}; left out, the rest of the event is stored"
                params += columns
            except (DocumentError, WriterStateError) as exc:
                refused.append(Refusal(i, f"event {row.uid}: {exc}"))
                continue
            except Exception as exc:  # a value the encoder (or a column) cannot take
                refused.append(Refusal(i, f"event {row.uid}: cannot store {culprit(row)}: "
                                          f"{type(exc).__name__}: {exc}"))
                continue
            scalar.append((i, row))
            if row.stream_uid not in streams:
                streams[row.stream_uid] = state
        stored = self._scalars(scalar, params, refused, since, streams) if scalar else 0
        stored += self._one_by_one(framed, refused)
        if notes:  # rows stored without a value: say which, unless refused after all
            gone = {refusal.index for refusal in refused}
            refused += [Refusal(i, note, stored=True) for i, note in notes.items()
                        if i not in gone]
        if chunk:
            self.last = (chunk[-1].uid, chunk[-1].stream_uid)
        return stored

    def _scalars(self, rows: list[tuple[int, EventRow]], params: list[Any],
                 refused: list[Refusal], since: float | None,
                 streams: Mapping[str, StreamState]) -> int:
        """Store the scalar rows of a chunk; rows whose key is stored go to the policy.

        When each of the chunk's streams was found stored (its descriptor, or its
        last chunk whole: a file replayed again), the chunk is compared with the
        stored rows first and settled in bulk (:class:`StoredEvents`), and only
        the rows not stored are inserted; otherwise every row is inserted and
        those not inserted are settled after.
        """
        if all(state.found_stored for state in streams.values()):
            self.batch.begin(since)  # the write lock: what was not found stays missing
            rows, params = self.stored.read_first(rows, params, refused)
        stored = self._insert(rows, params, refused, since) if rows else 0
        for state in streams.values():  # a chunk stored whole: read the next one first
            state.found_stored = not stored
        return stored

    def _insert(self, rows: list[tuple[int, EventRow]], params: list[Any],
                refused: list[Refusal], since: float | None) -> int:
        """Multi-row INSERTs; rows whose key is stored go to the conflict rule."""
        batch = self.batch
        conn = batch.conn
        parts = statement_parts(len(rows), batch.commit_every, first=self.first)
        self.first = False
        # A full chunk with nothing else pending and one statement is atomic by itself:
        # it runs as its own transaction, sparing a BEGIN and a COMMIT (each one more
        # wait for the GIL behind the RunEngine).
        single = len(parts) == 1  # one statement: atomic by itself, no savepoint
        alone = (single and not batch.open and len(rows) == batch.commit_every
                 and not batch.frames.pending_frames())
        if not alone:
            batch.begin(since)
        short: list[tuple[int, int, int]] = []  # (first row, rows inserted, last rowid)
        try:
            with contextlib.nullcontext(conn) if single else batch.unit():
                for first, count in parts:
                    part = params[first * WIDTH:(first + count) * WIDTH]
                    cursor = conn.execute(insert_sql("events", EVENT_COLUMNS, count), part)
                    if cursor.rowcount != count:
                        short.append((first, cursor.rowcount, cursor.lastrowid or 0))
        except (DocumentError, *REFUSED):  # a row the schema refuses: each alone says which
            return self._one_by_one(rows, refused)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write {batch.db_path}: {exc}") from exc
        if not short:  # every row inserted: the normal path
            return len(rows)
        inserted = self._inserted(rows, short, parts)
        old: list[tuple[int, EventRow, int]] = []
        stored = 0
        for k, (i, row) in enumerate(rows):
            if inserted[row.uid]:
                inserted[row.uid] -= 1
                stored += 1
            else:
                old.append((i, row, k))
        self.stored.settle(old, params, refused)
        return stored

    def _inserted(self, rows: list[tuple[int, EventRow]], short: list[tuple[int, int, int]],
                  parts: list[tuple[int, int]]) -> Counter[str]:
        """The uids a chunk's INSERTs stored, when some rows were not inserted.

        A statement that stored every row of its part stored all their uids; one
        that stored ``m`` of them gave them the ``m`` rowids up to its last one
        (SQLite gives a new row the largest rowid + 1, and this connection holds
        the write lock).
        """
        partial = {first: (count, last) for first, count, last in short}
        inserted: Counter[str] = Counter()
        for first, per in parts:  # as _insert cut them
            if first not in partial:
                inserted.update(row.uid for _, row in rows[first:first + per])
                continue
            count, last = partial[first]
            if count > 0:
                inserted.update(uid for (uid,) in self.batch.execute(
                    "SELECT uid FROM events WHERE rowid > ? AND rowid <= ?",
                    (last - count, last)))
        return inserted

    def _one_by_one(self, rows: list[tuple[int, EventRow]], refused: list[Refusal]) -> int:
        """Each row in its own unit of work: one the store refuses is rolled back alone."""
        stored = 0
        for i, row in rows:
            try:
                note = None
                try:
                    with self.batch.unit():
                        left_out = self._framed(row, strict=False)
                except Exception as exc:
                    fixed = None if not_a_value(exc) else without_unstorable(row)
                    if fixed is None:
                        raise
                    row, note = fixed
                    with self.batch.unit():
                        left_out = self._framed(row, strict=False)
                stored += 1
                if left_out or note:
                    said = [f"{note}; left out"] if note else []
                    if left_out:
                        said.append(f"{'; '.join(left_out)}; the frame is left out")
                    refused.append(Refusal(
                        i, f"event {row.uid}: {'; '.join(said)}, the rest of the event is stored",
                        stored=True))
            except DocumentError as exc:
                refused.append(Refusal(i, f"event {row.uid}: {exc}"))
            except (StorageError, WriterStateError):
                raise
            except Exception as exc:  # a value no column or frame array takes
                refused.append(Refusal(i, f"event {row.uid}: cannot store {culprit(row)}: "
                                          f"{type(exc).__name__}: {exc}"))
        return stored

    def _framed(self, row: EventRow, derived: bool = False, strict: bool = True) -> list[str]:
        """One event with its frames, inside the caller's unit of work.

        With ``strict`` False, a frame its array refuses (:class:`FrameShapeError`:
        nothing written) is left out and named in the list returned; the row
        and the other frames are stored.
        """
        columns = event_columns(row, derived)
        given = row.frames or {}
        if self.batch.insert("events", dict(zip(EVENT_COLUMNS, columns, strict=True))):
            frames: Mapping[str, np.ndarray] = given
        else:
            frames = self.conflict(row, dict(given), None, None)
        stamps = row.frame_timestamps or {}
        left_out: list[str] = []
        for key, frame in frames.items():
            try:
                self.images.frame(row.uid, self.stream(row.stream_uid), key, frame,
                                 stamps.get(key), row.stream_uid, row.seq_num)
            except FrameShapeError as exc:
                if strict:
                    raise
                left_out.append(f"key {key!r}: {exc}")
        return left_out

    def insert_one(self, row: EventRow, *, derived: bool = False) -> None:
        """Store one event and its frames as one unit of work; raise what refuses it."""
        with self.batch.unit():
            state = self.stream(row.stream_uid)
            check_event(row)
            if row.seq_num > state.seq_num:
                state.seq_num = row.seq_num
            self._framed(row, derived)
        self.last = (row.uid, row.stream_uid)
        self.batch.count()
