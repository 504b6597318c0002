"""Events whose key is stored: a chunk's rows compared with the stored ones in bulk.

What :class:`~resonance_callback.store._events.EventTable` does with the scalar
events of a chunk that are stored already (a file replayed again):

* When to look first: a stream whose descriptor was found stored (its run
  resumed), or whose last chunk was found stored whole
  (``StreamState.found_stored``), has its next chunk compared before anything
  is inserted (:meth:`StoredEvents.read_first`), and only the rows not stored
  are inserted; any other chunk is inserted first, and the rows the INSERT left
  out are compared after (:meth:`StoredEvents.settle`). Both are correct for any
  chunk; the guess only picks the cheaper order.
* :func:`differing` compares in SQLite: the chunk's columns go in as a
  ``VALUES`` list joined with the ``events_key`` index (one index search per
  row, never a scan of the table), and only the rows not stored alike come
  back (the key not stored, or a compared column not the same value). A chunk
  stored alike answers nothing and costs no Python per row.
* Rows stored alike are handed together to the policy's ``identical`` (which
  counts them); the stored rows of the others are read (:func:`stored_rows`)
  and each goes alone to the policy's ``conflict`` as before, which compares
  column by column (JSON as values: the same data in another key order is
  still skipped) and skips or refuses it. A policy that refuses identical
  rows too (the strict one) raises from ``identical``; its rows then go one
  by one to ``conflict``, which names each uid.

"Stored alike" is only ever a shortcut: every row it does not accept is
decided by ``conflict`` exactly as without it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any

import numpy as np

from resonance_callback.errors import DocumentError
from resonance_callback.store._batch import Batch
from resonance_callback.store._event_columns import EVENT_COLUMNS, WIDTH, statement_parts
from resonance_callback.store._rows import EventRow, Refusal

__all__ = ["Identical", "StoredEvents", "differing", "stored_rows"]

#: The key of an events row (schema 4): stream, seq_num, uid.
Key = tuple[Any, Any, Any]
#: The policy's rule for events found stored with the same columns: skip them, or raise.
Identical = Callable[[Sequence[EventRow]], None]
#: The policy's rule for one event whose key is stored (``EventTable``'s ``conflict``).
Conflict = Callable[[EventRow, dict[str, Any], Sequence[Any] | None, Sequence[Any] | None],
                    Mapping[str, np.ndarray]]

_COMPARED = len(EVENT_COLUMNS) - 1  # every column but ``derived``, as the policies compare


@functools.lru_cache(maxsize=16)
def _select_sql(rows: int) -> str:
    """The stored rows (``EVENT_COLUMNS[:-1]``) of ``rows`` keys, one index search each."""
    columns = ", ".join(f"e.{column}" for column in EVENT_COLUMNS[:-1])
    keys = ", ".join(["(?, ?, ?)"] * rows)
    return (f"SELECT {columns} FROM (VALUES {keys}) AS k CROSS JOIN events AS e "
            "ON e.stream_uid = k.column1 AND e.seq_num = k.column2 AND e.uid = k.column3")


@functools.lru_cache(maxsize=16)
def _differing_sql(rows: int) -> str:
    """The keys of ``rows`` new rows not stored alike, and whether their key is stored.

    Alike: every compared column the same value (text byte for byte, ``time`` as a
    number), and the uid and stream as text (another type is decided by the policy).
    """
    values = ", ".join(["(" + ", ".join("?" * WIDTH) + ")"] * rows)
    return (f"SELECT k.column2, k.column3, k.column1, e.rowid IS NOT NULL "
            f"FROM (VALUES {values}) AS k LEFT JOIN events AS e "
            "ON e.stream_uid = k.column2 AND e.seq_num = k.column3 AND e.uid = k.column1 "
            "WHERE e.rowid IS NULL OR e.time IS NOT k.column4 OR e.data IS NOT k.column5 "
            "OR e.timestamps IS NOT k.column6 OR e.filled IS NOT k.column7 "
            "OR typeof(k.column1) <> 'text' OR typeof(k.column2) <> 'text'")


def differing(batch: Batch, params: Sequence[Any], rows: int, *,
              first: bool = False) -> dict[Key, bool]:
    """Rows of ``params`` (``EVENT_COLUMNS`` values, ``rows`` of them) not stored alike.

    By key: True when the key is stored (with other columns), False when it is not.
    Every row absent from the answer is stored with the same compared columns.
    Statements of the sizes :func:`statement_parts` cuts (small ones for the
    ``first`` chunk a connection compares).
    """
    answer: dict[Key, bool] = {}
    for start, count in statement_parts(rows, batch.commit_every, first=first):
        part = params[start * WIDTH:(start + count) * WIDTH]
        for stream_uid, seq_num, uid, stored in batch.execute(_differing_sql(count), part):
            answer[(stream_uid, seq_num, uid)] = bool(stored)
    return answer


def stored_rows(batch: Batch, rows: Sequence[EventRow]) -> dict[Key, tuple[Any, ...]]:
    """The stored rows (``EVENT_COLUMNS[:-1]``) with the keys of ``rows``, by key.

    Statements of the sizes :func:`statement_parts` cuts (few distinct sizes, so
    the connection's statement cache stays small).
    """
    found: dict[Key, tuple[Any, ...]] = {}
    for first, count in statement_parts(len(rows), batch.commit_every):
        keys = [v for row in rows[first:first + count]
                for v in (row.stream_uid, row.seq_num, row.uid)]
        for stored in batch.execute(_select_sql(count), keys):
            found[(stored[1], stored[2], stored[0])] = stored
    return found


class StoredEvents:
    """Settle the events of a chunk whose key is stored; see the module documentation.

    Parameters
    ----------
    batch : Batch
        The connection and its batch transaction.
    identical : callable
        The policy's rule for rows found stored with equal columns (counts them,
        or raises :class:`DocumentError` to have each decided by ``conflict``).
    conflict : callable
        The policy's rule for one row whose key is stored.
    """

    def __init__(self, batch: Batch, identical: Identical, conflict: Conflict) -> None:
        self.batch = batch
        self.identical = identical
        self.conflict = conflict
        self.first = True  # no comparison prepared on the connection yet (statement_parts)

    def read_first(self, rows: list[tuple[int, EventRow]], params: list[Any],
                   refused: list[Refusal]) -> tuple[list[tuple[int, EventRow]], list[Any]]:
        """Settle the ``(index, row)`` rows whose key is stored; return the other rows, columns.

        ``params`` holds the rows' ``EVENT_COLUMNS`` values, in order. The caller
        holds the write lock, so the rows returned are still missing when it
        inserts them.
        """
        try:
            differ = differing(self.batch, params, len(rows), first=self.first)
            self.first = False
        except DocumentError:  # a value SQLite cannot take: the caller's INSERTs say which
            return rows, params
        if not differ:  # every row stored alike (a file replayed again): skipped together
            self._same([(i, row, k) for k, (i, row) in enumerate(rows)], params, {}, refused)
            return [], []
        old: list[tuple[int, EventRow, int]] = []
        alike: set[int] = set()
        new: list[tuple[int, EventRow]] = []
        rest: list[Any] = []
        for k, (i, row) in enumerate(rows):
            stored = differ.get((row.stream_uid, row.seq_num, row.uid))
            if stored is None:  # stored alike
                alike.add(k)
                old.append((i, row, k))
            elif stored:
                old.append((i, row, k))
            else:
                new.append((i, row))
                rest += params[k * WIDTH:(k + 1) * WIDTH]
        self._settle(old, params, refused, alike)
        return new, rest

    def settle(self, rows: list[tuple[int, EventRow, int]], params: list[Any],
               refused: list[Refusal]) -> None:
        """Decide ``(index, row, k)`` rows an INSERT did not store (their key is stored).

        ``params[k * WIDTH:]`` holds row k's columns. A refused row is added to
        ``refused`` under its index.
        """
        if len(rows) * WIDTH == len(params):  # none was inserted: the columns as they are
            mine = params
        else:
            mine = [v for _, _, k in rows for v in params[k * WIDTH:(k + 1) * WIDTH]]
        try:
            differ = differing(self.batch, mine, len(rows))
        except DocumentError:  # not expected: they were bound once already
            alike: set[int] = set()
        else:
            alike = {k for _, row, k in rows
                     if (row.stream_uid, row.seq_num, row.uid) not in differ}
        self._settle(rows, params, refused, alike)

    def _settle(self, rows: Sequence[tuple[int, EventRow, int]], params: Sequence[Any],
                refused: list[Refusal], alike: Container[int]) -> None:
        """Decide rows whose key is stored, in order; ``alike``: the ``k`` of rows stored alike.

        The others' stored rows are read here: equal tuples are skipped with the
        rows stored alike, every other row goes alone to the policy's ``conflict``.
        """
        found = stored_rows(self.batch, [row for _, row, k in rows if k not in alike])
        same: list[tuple[int, EventRow, int]] = []
        for item in rows:
            _, row, k = item
            if k in alike:
                same.append(item)
                continue
            stored = found.get((row.stream_uid, row.seq_num, row.uid))
            start = k * WIDTH
            if stored is not None and tuple(stored) == tuple(params[start:start + _COMPARED]):
                same.append(item)
                continue
            if same:
                self._same(same, params, found, refused)
                same = []
            self._one(item, params, stored, refused)
        if same:
            self._same(same, params, found, refused)

    def _same(self, rows: list[tuple[int, EventRow, int]], params: Sequence[Any],
              found: Mapping[Key, Sequence[Any]], refused: list[Refusal]) -> None:
        """Rows stored alike: skipped together, or each decided alone."""
        try:
            self.identical([row for _, row, _ in rows])
            return
        except DocumentError:
            pass
        for item in rows:
            row = item[1]
            self._one(item, params, found.get((row.stream_uid, row.seq_num, row.uid)), refused)

    def _one(self, item: tuple[int, EventRow, int], params: Sequence[Any],
             stored: Sequence[Any] | None, refused: list[Refusal]) -> None:
        i, row, k = item
        try:  # no frames: the policy only reads and compares, no unit of work needed
            self.conflict(row, {}, params[k * WIDTH:(k + 1) * WIDTH], stored)
        except DocumentError as exc:
            refused.append(Refusal(i, f"event {row.uid}: {exc}"))
