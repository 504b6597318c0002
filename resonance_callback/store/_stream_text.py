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

_PAGE = """SELECT e.seq_num, e.time{picks} FROM events e
    WHERE e.stream_uid = ? AND e.seq_num >= ? ORDER BY e.seq_num LIMIT ? OFFSET ?"""


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
    where: tuple[str, int, int, int]

    def last_seq(self) -> int:
        """The seq_num of the batch's last row."""
        return int(self.seq[self.seq.rfind(",") + 1:])


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
    """Yield the events of one descriptor, in seq_num order, ``size`` rows a batch.

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
        Rows per batch.

    Notes
    -----
    Rows sharing a seq_num are not told apart: a batch starts at the last seq_num
    of the one before and skips one row, so a repeated seq_num shows as seq_nums
    that do not grow (read such a stream sorted, with
    :func:`~resonance_callback.store.run_queries.stream_row_batches`).
    """
    from resonance_callback.store._queries import json_path

    if fields is None:
        exprs = ["e.data", "e.timestamps"] if timestamps else ["e.data"]
        params: list[Any] = []
        checks: list[str | None] = [None] * len(exprs)
    else:
        paths = [json_path(f) for f in fields]
        exprs = ["e.data -> ?"] * len(fields) + (["e.timestamps -> ?"] * len(fields)
                                                 if timestamps else [])
        params = [*paths, *(paths if timestamps else [])]
        checks = [str(p) for p in params]
    picks = "".join(f", {x} AS v{i}" for i, x in enumerate(exprs))
    page = _PAGE.format(picks=picks)
    texts = ", ".join((f"group_concat(coalesce(v{i}, 'null'))" if fields is not None else
                       f"group_concat(v{i})") for i in range(len(exprs)))
    sql = (f"SELECT count(*), group_concat(seq_num), "
           f"group_concat(CAST(time * {TIME_SCALE!r} AS INTEGER)){', ' * bool(texts)}{texts} "
           f"FROM ({page})")
    start, skip = -(2**63), 0
    while True:
        where = (descriptor_uid, start, size, skip)
        row = reader.rows(sql, [*params, *where])[0]
        n = int(row[0])
        if not n:
            return
        values = [v or "" for v in row[3:]]
        present = [True] * len(values)
        for i, path in enumerate(checks):
            if path is not None and values[i].strip("nul,") == "":  # only nulls: held?
                present[i] = bool(reader.rows(
                    f"SELECT count(v{i}) FROM ({page})", [*params, *where])[0][0])
        batch = TextBatch(n, str(row[1]), str(row[2]), values, present, where)
        yield batch
        if n < size:
            return
        start, skip = batch.last_seq(), 1


def text_batch_times(reader: BeamtimeReader, batch: TextBatch) -> list[float]:
    """The times of ``batch``'s rows as floats, one per row (when ``time`` is not exact)."""
    return [r[1] for r in reader.rows(_PAGE.format(picks=""), batch.where)]
