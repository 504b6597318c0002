"""The columns of an events row, and the rules every event row passes.

:class:`~resonance_callback.store._events.EventTable` writes them; the conflict
policies compare them (:data:`EVENT_COLUMNS`, :func:`event_columns`).
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.errors import (
    DocumentError,
    FrameShapeError,
    StorageError,
    WriterStateError,
)
from resonance_callback.store._rows import EventRow
from resonance_callback.store._unstorable import MAX_DATA_BYTES, OversizedError

__all__ = ["EVENT_COLUMNS", "FIRST_ROWS_PER_INSERT", "ROWS_PER_INSERT", "WIDTH", "StreamState",
           "array_key", "check_event", "culprit", "event_columns", "finite", "not_a_value",
           "statement_parts"]

#: Columns of an events row written from an :class:`EventRow`.
EVENT_COLUMNS = ("uid", "stream_uid", "seq_num", "time", "data", "timestamps", "filled",
                 "derived")
WIDTH = len(EVENT_COLUMNS)

#: Most event rows per multi-row INSERT (8 parameters each; SQLite allows 32766 per
#: statement). A chunk is cut into statements of power-of-two sizes up to this (or of
#: ``commit_every`` rows, the usual full chunk, in one statement), so the connection's
#: statement cache holds at most ~13 of them: one prepared statement per row count seen
#: made SQLite's memory grow by ~30 MB over the first 100k events of a run (one large
#: statement per queue length the writer happened to find), and RSS with it.
ROWS_PER_INSERT = 2048

#: Most event rows per INSERT of a connection's first chunk. A new connection has no
#: statement prepared, and SQLite prepares a multi-row INSERT in time linear in its
#: rows (a 1,000-row one: ~1.5 ms, about what running it costs); parts of this many
#: rows share one statement prepared in ~0.2 ms. Later chunks use the large ones,
#: prepared once for the connection's life.
FIRST_ROWS_PER_INSERT = 128


def statement_parts(rows: int, whole: int, *, first: bool = False) -> list[tuple[int, int]]:
    """``(first row, row count)`` of the INSERT statements that write ``rows`` rows.

    ``whole`` (the writer's ``commit_every``) rows go in one statement when they are
    all there is and fit; otherwise parts of :data:`ROWS_PER_INSERT` rows, then the
    remainder by its binary digits, largest first. The ``first`` chunk of a
    connection goes in parts as equal as can be of at most
    :data:`FIRST_ROWS_PER_INSERT` rows.
    """
    if first and rows > FIRST_ROWS_PER_INSERT:
        size = -(-rows // -(-rows // FIRST_ROWS_PER_INSERT))  # ceil(rows / ceil(...))
        return [(start, min(size, rows - start)) for start in range(0, rows, size)]
    if rows == whole and rows * WIDTH <= 32766:
        return [(0, rows)]
    parts, start = [], 0
    size = ROWS_PER_INSERT
    while start < rows:
        while size > rows - start:
            size //= 2
        parts.append((start, size))
        start += size
    return parts


@dataclass
class StreamState:
    """What the writer keeps about an open stream."""

    run_uid: str
    name: str
    seq_num: int = 0
    arrays: dict[str, str] = field(default_factory=dict)  # field -> zarr path
    #: Whether the stream's last chunk of scalar events was found stored whole (a
    #: replay of a stored file): its next chunk's stored rows are read first.
    found_stored: bool = False



#: Characters escaped in a Zarr path component besides ``%``: the separator, and
#: control characters (NUL among them) no file name should hold.
_UNSAFE = {"/": "%2F", **{chr(c): f"%{c:02X}" for c in range(32)}, "\x7f": "%7F"}


def array_key(name: str) -> str:
    """Make a stream or field name safe as one Zarr path component.

    ``%`` and ``/`` and control characters are percent-escaped; so is a leading
    ``.`` (``.``, ``..``, hidden files) or ``_`` of ``__`` (reserved by Zarr), and
    the ``.`` of a name Zarr uses for metadata (``zarr.json``, ``.zarray``, ...);
    the empty name is ``%``. Names that need none of this (nearly all) are kept.
    """
    key = name.replace("%", "%25")
    for char in (c for c in key if c in _UNSAFE):
        key = key.replace(char, _UNSAFE[char])
    if key.startswith("."):
        key = "%2E" + key[1:]
    elif key.startswith("__"):
        key = "%5F" + key[1:]
    if key.lower() == "zarr.json":
        key = "zarr%2Ejson"
    return key or "%"


def check_event(row: EventRow) -> None:
    """Refuse an event whose ``seq_num`` is no 64-bit integer or whose ``time`` no number."""
    seq = row.seq_num
    if type(seq) is not int or not -(2**63) <= seq < 2**63:
        raise DocumentError(f"seq_num {seq!r} ({type(seq).__name__}) is not an integer "
                            "of 64 bits")
    t = row.time
    if not (type(t) is float or isinstance(t, int | float)) or not math.isfinite(t):
        raise DocumentError(f"time {t!r} ({type(t).__name__}) is not a finite number")


def event_columns(row: EventRow, derived: bool = False) -> tuple[Any, ...]:
    """The ``events`` column values of ``row``, in :data:`EVENT_COLUMNS` order."""
    dumps = jsoncodec.dumps
    data = dumps(row.data)
    if len(data) > MAX_DATA_BYTES:
        raise OversizedError(f"its data is {len(data)} bytes as JSON, more than "
                              f"{MAX_DATA_BYTES} (a value far larger than declared?)")
    return (row.uid, row.stream_uid, row.seq_num, row.time, data,
            dumps(row.timestamps) if row.timestamps else "{}",
            None if row.filled is None else dumps(row.filled), int(derived))


def culprit(row: EventRow) -> str:
    """Which of an event's values the encoder refuses, for the rejection's reason."""
    for part, values in (("data", row.data), ("timestamps", row.timestamps)):
        for key, value in values.items() if isinstance(values, dict) else ():
            try:
                jsoncodec.dumps({key: value})
            except Exception:  # noqa: BLE001 - this is the one
                return f"{part} key {key!r} (a {type(value).__name__})"
    return "its values"


def finite(value: Any) -> float | None:
    """A frame's timestamp as a finite float; None for anything else (the row keeps it)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def not_a_value(exc: BaseException) -> bool:
    """Whether ``exc`` is about the store or the row as a whole, not one of its values."""
    if isinstance(exc, OversizedError):
        return False
    return isinstance(exc, StorageError | WriterStateError | DocumentError | FrameShapeError
                      | sqlite3.Error)
