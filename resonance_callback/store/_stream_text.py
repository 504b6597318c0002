"""A stream's events as a few texts per batch: the rows of ``table()`` without a tuple each.

Handing Python one tuple per row (and an object per value) cost about half of
``table()``. Here SQLite concatenates each batch's values into one text per column
(``group_concat``), so Python decodes a batch with one call per column: the seq_nums
and times as comma-separated integers, the JSON values as comma-separated JSON texts.

``time`` is a REAL, and SQLite's REAL-to-text keeps 15 significant digits. It is
sent as the integer ``time * 2**22`` instead: for ``2**30 <= time < 2**41`` (Unix
seconds from 2004 to far beyond) every double is a multiple of ``2**-22`` below
``2**41``, so that integer is exact and fits 63 bits, and ``integer / 2**22`` is the
stored double bit for bit. A batch with any time outside that range has its times
read as floats, one per row, instead (:func:`text_batch_times`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from resonance_callback.store._reader import BeamtimeReader

__all__ = ["TIME_SCALE", "TextBatch", "exact_times", "stream_text_batches", "text_batch_times"]

#: ``time`` is sent as ``time * TIME_SCALE`` (an exact integer in the range below).
TIME_SCALE = 4_194_304.0  # 2**22
_INT_LOW, _INT_CLAMP = 2**52, 2**63 - 1

_RANGE = "FROM events e WHERE e.stream_uid = ? AND e.seq_num BETWEEN ? AND ?"
_LAST = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class TextBatch:
    """One batch of a stream's rows, in seq_num order, as texts.

    Attributes
    ----------
    n : int
        Its number of rows.
    seq : str
        The seq_nums, comma-separated.
    time : str
        The times as integers ``time * TIME_SCALE``, comma-separated (SQLite's
        ``CAST``: exact only if each integer is in ``[2**52, 2**63 - 1)``, see
        :func:`exact_times`; else read them with :func:`text_batch_times`).
    values : list of str
        One text per pick: the JSON texts of the rows, comma-separated (``null``
        where a row has no such field).
    present : list of bool
        Per pick, whether some row of the batch holds it (always True for a whole
        ``data`` or ``timestamps``).
    """

    n: int
    seq: str
    time: str
    values: list[str]
    present: list[bool]
    where: tuple[str, int, int]


def exact_times(integers: Any) -> bool:
    """Whether ``time * TIME_SCALE`` cast to integers (an int64 array) is exact.

    Exact when every integer is in ``[2**52, 2**63 - 1)``: a time scaled to at least
    ``2**52`` is a whole number (no fraction bits left), and ``2**63 - 1`` is where
    SQLite's ``CAST`` clamps a REAL too large for an integer.
    """
    return bool(len(integers) == 0 or (integers.min() >= _INT_LOW
                                       and integers.max() < _INT_CLAMP))


def stream_text_batches(reader: BeamtimeReader, descriptor_uid: str, *,
                        timestamps: bool = False, fields: list[str] | None = None,
                        size: int = 16_384) -> Iterator[TextBatch]:
    """Yield the events of one descriptor, in seq_num order, as texts, batch by batch.

    Parameters
    ----------
    reader : BeamtimeReader
        Open reader (use inside :meth:`~BeamtimeReader.snapshot` for one state).
    descriptor_uid : str
        The stream's descriptor (one descriptor: its rows are read in the order of
        the events' key, ``(stream_uid, seq_num, uid)``, with no sort).
    timestamps : bool
        Also give the ``timestamps`` (after the values).
    fields : list of str, optional
        Only these keys, each cut out of ``data`` (and ``timestamps``) by SQLite
        (``data -> '$."key"'``), so the other fields never leave the database.
        Each must be a valid :func:`~resonance_callback.store.run_queries.json_path`.
    size : int
        seq_num values per batch: a batch holds the rows whose seq_num is in one
        range of ``size`` values (so at most ``size`` rows, unless seq_nums repeat);
        a gap between seq_nums is skipped with one lookup in the events' key.

    Notes
    -----
    Each batch is one aggregate over the events' key, ``(stream_uid, seq_num, uid)``,
    whose rows SQLite concatenates in the order it scans them: the seq_nums' order.
    The caller checks that the seq_nums grow: if they do not (rows sharing a
    seq_num, or another scan order) read the stream sorted instead, with
    :func:`~resonance_callback.store.run_queries.stream_row_batches`.
    """
    from resonance_callback.store._queries import json_path

    if fields is None:
        exprs = ["e.data", "e.timestamps"] if timestamps else ["e.data"]
        params: list[Any] = []
    else:
        paths = [json_path(f) for f in fields]
        exprs = ["e.data -> ?"] * len(fields) + (["e.timestamps -> ?"] * len(fields)
                                                 if timestamps else [])
        params = [*paths, *(paths if timestamps else [])]
    texts = ", ".join((f"group_concat(coalesce({x}, 'null'))" if fields is not None else
                       f"group_concat({x})") for x in exprs)
    sql = (f"SELECT count(*), group_concat(e.seq_num), "
           f"group_concat(CAST(e.time * {TIME_SCALE!r} AS INTEGER)){', ' * bool(texts)}{texts} "
           f"{_RANGE}")
    start = _first_seq(reader, descriptor_uid, -(2**63))
    while start is not None:
        end = min(start + size - 1, _LAST)
        where = (descriptor_uid, start, end)
        row = reader.rows(sql, [*params, *where])[0]
        if n := int(row[0]):
            values = [v or "" for v in row[3:]]
            present = [True] * len(values)
            for i, x in enumerate(exprs):
                if fields is not None and values[i].strip("nul,") == "":  # nulls: any held?
                    present[i] = bool(reader.rows(f"SELECT count({x}) {_RANGE}",
                                                  [params[i], *where])[0][0])
            yield TextBatch(n, str(row[1]), str(row[2]), values, present, where)
        start = None if end == _LAST else _first_seq(reader, descriptor_uid, end + 1)


def _first_seq(reader: BeamtimeReader, descriptor_uid: str, start: int) -> int | None:
    """The smallest seq_num of the descriptor's events from ``start`` on (None: none)."""
    row = reader.rows("SELECT min(seq_num) FROM events WHERE stream_uid = ? AND seq_num >= ?",
                      (descriptor_uid, start))
    return None if row[0][0] is None else int(row[0][0])


def text_batch_times(reader: BeamtimeReader, batch: TextBatch) -> list[float]:
    """The times of ``batch``'s rows as floats, one per row (when ``time`` is not exact)."""
    return [r[0] for r in reader.rows(f"SELECT e.time {_RANGE} ORDER BY e.seq_num",
                                      batch.where)]
