"""A stream's extent and its columns read one field at a time, for reads that must not grow.

What :meth:`Stream.read` and the Tiled stream node need of a stream without
reading its events' table: how many rows it holds (:func:`stream_extent`, from
the ends of each descriptor's part of the events' key and the field's
``frame_spans`` rows, or else counted), the first datum id of an ophyd (v1)
detector-file field (:func:`first_texts`), and, only when asked for, the values
of one column (:func:`column_rows`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from resonance_callback.store._queries import json_path
from resonance_callback.store._reader import BeamtimeReader

__all__ = ["StreamExtent", "column_rows", "first_texts", "stream_extent"]


@dataclasses.dataclass(frozen=True)
class StreamExtent:
    """The rows of one stream when it was looked at.

    Attributes
    ----------
    rows : int
        The stream's events rows (every row, derived ones too).
    descriptors : tuple of str
        The stream's descriptor uids.
    last_seq : int or None
        The largest seq_num of those rows (None when there is none): the rows
        of the stream as it was are those up to it (a live run adds rows after it).
    counted : bool
        Whether ``rows`` was counted (else it is the frames of a field whose
        references cover every seq_num of each descriptor's rows, once).
    """

    rows: int
    descriptors: tuple[str, ...]
    last_seq: int | None
    counted: bool


def _ends(reader: BeamtimeReader, descriptor: str) -> tuple[int, int] | None:
    """The first and last seq_num of one descriptor's rows (two probes of the key)."""
    first = reader.rows("SELECT seq_num FROM events WHERE stream_uid = ? "
                        "ORDER BY seq_num LIMIT 1", (descriptor,))
    if not first:
        return None
    last = reader.rows("SELECT seq_num FROM events WHERE stream_uid = ? "
                       "ORDER BY seq_num DESC LIMIT 1", (descriptor,))
    return int(first[0][0]), int(last[0][0])


def stream_extent(reader: BeamtimeReader, run_uid: str, stream: str,
                  frame_field: str | None = None) -> StreamExtent:
    """Return how many rows a stream holds, in time independent of them where it can.

    Parameters
    ----------
    reader : BeamtimeReader
        The open beamtime.
    run_uid, stream : str
        The run's full uid and the stream's name.
    frame_field : str, optional
        A field with a frame in every row as the writer appends them. When, for
        every descriptor of the stream, its ``frame_spans`` row is in order,
        holds one frame per seq_num from its first to its last, and those are
        the first and last seq_num of the descriptor's rows, the stream's rows
        are those frames: no row is counted. Otherwise the rows are counted
        (:func:`~resonance_callback.store.event_counts`).

    Returns
    -------
    StreamExtent
    """
    from resonance_callback.store._counts import event_counts

    with reader.snapshot():
        descriptors = tuple(r[0] for r in reader.rows(
            "SELECT uid FROM streams WHERE run_uid = ? AND name = ? ORDER BY rowid",
            (run_uid, stream)))
        ends = {d: _ends(reader, d) for d in descriptors}
        lasts = [e[1] for e in ends.values() if e is not None]
        last_seq = max(lasts) if lasts else None
        if frame_field is not None and reader.frame_spans and lasts:
            spans = {r[0]: r[1:] for r in reader.rows(
                "SELECT f.stream_uid, f.first_seq, f.last_seq, f.frames, f.in_order "
                "FROM streams s JOIN frame_spans f ON f.stream_uid = s.uid "
                "WHERE s.run_uid = ? AND s.name = ? AND f.field_name = ?",
                (run_uid, stream, frame_field))}
            total = 0
            for descriptor, end in ends.items():
                span = spans.get(descriptor)
                if end is None and span is None:
                    continue
                if (end is None or span is None or not span[3]
                        or (span[0], span[1]) != end or span[2] != end[1] - end[0] + 1):
                    break
                total += int(span[2])
            else:
                return StreamExtent(total, descriptors, last_seq, counted=False)
        rows = event_counts(reader, [run_uid], stream).get(run_uid, {}).get(stream, 0)
    return StreamExtent(rows, descriptors, last_seq, counted=True)


def first_texts(reader: BeamtimeReader, descriptors: Iterable[str], fields: Iterable[str]
                ) -> dict[str, str]:
    """Return, per field, the first text value its rows hold (in seq_num order), if any.

    An ophyd (v1) detector-file field's rows hold datum ids: the first one names
    the field's resource. Found from the first rows of the events' key.
    """
    out: dict[str, str] = {}
    for field in fields:
        path = json_path(field)
        if path is None:
            continue
        found = []
        for descriptor in descriptors:  # each one down its part of the events' key
            found += reader.rows(
                "SELECT e.seq_num, e.data ->> ? FROM events e WHERE e.stream_uid = ? "
                "AND json_type(e.data, ?) = 'text' ORDER BY e.seq_num LIMIT 1",
                (path, descriptor, path))
        if found:
            out[field] = str(min(found, key=lambda r: r[0])[1])
    return out


def column_rows(reader: BeamtimeReader, extent: StreamExtent, fields: list[str]
                ) -> list[tuple[Any, ...]]:
    """Return ``(time, JSON text of each field's value)`` of the rows of ``extent``.

    In the order of :meth:`Run.table`'s rows (seq_num, time, arrival); only the
    rows up to the extent's last seq_num, so the rows of a live run are those
    the extent saw. Each value is cut out of ``data`` by SQLite (NULL where the
    row has no such key): the other fields never leave the database. Each field
    must have a :func:`~resonance_callback.store.run_queries.json_path`.
    """
    if not extent.descriptors or extent.last_seq is None:
        return []
    paths = [json_path(f) for f in fields]
    picks = "".join(", e.data -> ?" for _ in fields)
    uids = extent.descriptors
    return reader.rows(
        f"SELECT e.time{picks} FROM events e WHERE e.stream_uid IN "
        f"({', '.join('?' * len(uids))}) AND e.seq_num <= ? "
        "ORDER BY e.seq_num, e.time, e.rowid", [*paths, *uids, extent.last_seq])
