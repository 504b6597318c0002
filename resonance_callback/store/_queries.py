"""The rows of one run: its status, streams, event rows, frame references and documents.

Every function takes an open :class:`~resonance_callback.store.BeamtimeReader`
and a run's full uid, and returns plain rows (tuples) in a documented order;
the read side turns them into documents, tables and frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from resonance_callback.store._reader import BeamtimeReader

__all__ = ["RunDocumentRows", "descriptor_rows", "document_rows", "event_frame",
           "external_documents", "frame_span", "image_fields", "image_rows",
           "image_rows_by_seq", "json_path", "rejected_rows", "run_status", "stream_documents",
           "stream_names", "stream_row_batches", "stream_rows", "unresolved_rows"]

Row = tuple[Any, ...]

_STREAM_ROWS = """
    SELECT e.seq_num, e.time, e.data{timestamps}
    FROM events e JOIN streams s ON s.uid = e.stream_uid
    WHERE s.run_uid = ? AND s.name = ?
    ORDER BY e.seq_num, e.time, e.rowid
"""

_IMAGE_ROWS = """
    SELECT i.zarr_path, i.frame_index
    FROM image_refs i JOIN events e ON e.uid = i.event_uid
    JOIN streams s ON s.uid = e.stream_uid
    WHERE s.run_uid = ? AND s.name = ? AND i.field_name = ?
    ORDER BY e.seq_num, e.time, e.rowid
"""

_EVENTS = """
    SELECT e.uid, e.stream_uid, e.seq_num, e.time, e.data, e.timestamps, e.filled, e.rowid
    FROM events e JOIN streams s ON s.uid = e.stream_uid
    WHERE s.run_uid = ? AND e.derived = 0
"""

_REFS = """
    SELECT i.event_uid, i.field_name, i.zarr_path, i.frame_index, i.timestamp
    FROM image_refs i JOIN events e ON e.uid = i.event_uid
    JOIN streams s ON s.uid = e.stream_uid
    WHERE s.run_uid = ? AND e.derived = 0
"""


def run_status(reader: BeamtimeReader, run_uid: str) -> tuple[str | None, str | None]:
    """Return ``(exit_status, stop document JSON)``; both None while the run is open."""
    rows = reader.rows("SELECT exit_status, stop_document FROM runs WHERE uid = ?", (run_uid,))
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def stream_names(reader: BeamtimeReader, run_uid: str) -> list[str]:
    """Return the names of a run's streams, in the order they were declared."""
    rows = reader.rows(
        "SELECT name FROM streams WHERE run_uid = ? GROUP BY name "
        "ORDER BY min(coalesce(time, 0)), min(rowid)", (run_uid,))
    return [r[0] for r in rows]


def descriptor_rows(reader: BeamtimeReader, run_uid: str, stream: str | None = None
                    ) -> list[Row]:
    """Return ``(uid, name, time, data_keys, configuration, document)`` per descriptor, in order.

    Only those of ``stream`` when it is given.
    """
    sql = ("SELECT uid, name, time, data_keys, configuration, document FROM streams "
           "WHERE run_uid = ?")
    params: list[Any] = [run_uid]
    if stream is not None:
        sql += " AND name = ?"
        params.append(stream)
    return reader.rows(sql + " ORDER BY coalesce(time, 0), rowid", params)


def image_fields(reader: BeamtimeReader, run_uid: str, stream: str) -> list[str]:
    """Return the fields of a stream that have frames in the Zarr store, sorted."""
    if not reader.frame_spans:  # a file older than schema 8, opened read-only
        rows = reader.rows(
            "SELECT DISTINCT i.field_name FROM image_refs i JOIN events e "
            "ON e.uid = i.event_uid JOIN streams s ON s.uid = e.stream_uid "
            "WHERE s.run_uid = ? AND s.name = ? ORDER BY i.field_name", (run_uid, stream))
        return [r[0] for r in rows]
    rows = reader.rows(
        "SELECT DISTINCT f.field_name FROM streams s JOIN frame_spans f "
        "ON f.stream_uid = s.uid WHERE s.run_uid = ? AND s.name = ? "
        "ORDER BY f.field_name", (run_uid, stream))
    return [r[0] for r in rows]


def stream_rows(reader: BeamtimeReader, run_uid: str, stream: str, *,
                timestamps: bool = False) -> list[Row]:
    """Return ``(seq_num, time, data[, timestamps])`` of every events row of a stream.

    Rows the writer derived (``derived = 1``) are included; ordered by
    ``seq_num``, then time.
    """
    sql = _STREAM_ROWS.format(timestamps=", e.timestamps" if timestamps else "")
    return reader.rows(sql, (run_uid, stream))


def json_path(key: str) -> str | None:
    """The SQLite JSON path of a top-level key, None if the key cannot be written as one."""
    return None if '"' in key or "\\" in key else f'$."{key}"'


def stream_row_batches(reader: BeamtimeReader, run_uid: str, stream: str, *,
                       timestamps: bool = False, fields: list[str] | None = None,
                       by_seq: bool = False, size: int = 16_384) -> Iterator[list[Row]]:
    """Yield the rows of :func:`stream_rows` ``size`` at a time.

    With ``fields``, each row is ``(seq_num, time, value of each field[, timestamp of
    each field])``: every value the JSON text of that key alone (SQL NULL where the
    event has no such key), cut out of ``data`` by SQLite, so the other fields never
    leave the database. Each key must have a :func:`json_path`. With ``by_seq``, rows
    are in ``seq_num`` order only (rows of one seq_num in any order): a stream of one
    descriptor is then read in the order of the events' key, with no sort.
    """
    if fields is None:
        picks = "e.data, e.timestamps" if timestamps else "e.data"
        params: list[Any] = []
    else:
        paths = [json_path(f) for f in fields]
        picks = ", ".join(["e.data -> ?"] * len(fields)
                          + (["e.timestamps -> ?"] * len(fields) if timestamps else [])) or "NULL"
        params = [*paths, *(paths if timestamps else [])]
    if not by_seq:
        sql = _STREAM_ROWS.replace("e.data{timestamps}", picks)
        yield from reader.batches(sql, [*params, run_uid, stream], size)
        return
    uids = [r[0] for r in reader.rows("SELECT uid FROM streams WHERE run_uid = ? AND name = ?",
                                      (run_uid, stream))]
    sql = (f"SELECT e.seq_num, e.time, {picks} FROM events e WHERE e.stream_uid IN "
           f"({', '.join('?' * len(uids))}) ORDER BY e.seq_num")
    yield from reader.batches(sql, [*params, *uids], size)


def image_rows(reader: BeamtimeReader, run_uid: str, stream: str, field: str) -> list[Row]:
    """Return ``(zarr_path, frame_index)`` of one field's frames, in the stream's row order."""
    return reader.rows(_IMAGE_ROWS, (run_uid, stream, field))


def frame_span(reader: BeamtimeReader, run_uid: str, stream: str, field: str
               ) -> tuple[str, int, int] | None:
    """Return ``(zarr_path, first_index, frames)`` when one field's frames are one span.

    One span: every frame of the field, in the stream's row order, is the next
    frame of one array (as the writer appends them). Read from the field's
    ``frame_spans`` rows (schema 8), one per descriptor of the stream, so the
    answer costs the same however many frames the run holds. None when the
    frames are not one span (read them with :func:`image_rows`).
    """
    if not reader.frame_spans:
        return None
    rows = sorted(reader.rows(
        "SELECT f.first_seq, f.last_seq, f.frames, f.zarr_path, f.first_index, f.last_index, "
        "f.in_order FROM streams s JOIN frame_spans f ON f.stream_uid = s.uid "
        "WHERE s.run_uid = ? AND s.name = ? AND f.field_name = ?", (run_uid, stream, field)),
        key=lambda r: (r[0] is None, r[0] or 0))
    if not rows:
        return None
    path, first = rows[0][3], rows[0][4]
    end_seq, end_index = None, first - 1
    for first_seq, last_seq, frames, zarr_path, first_index, last_index, in_order in rows:
        if not (in_order and zarr_path == path and first_seq is not None
                and last_seq - first_seq + 1 == frames == last_index - first_index + 1
                and first_index == end_index + 1
                and (end_seq is None or first_seq > end_seq)):
            return None
        end_seq, end_index = last_seq, last_index
    return str(path), int(first), int(end_index - first + 1)


def event_frame(reader: BeamtimeReader, run_uid: str, event_uid: str, field: str
                ) -> tuple[str, int] | None:
    """Return ``(zarr_path, frame_index)`` of one event's frame of ``field`` in run ``run_uid``.

    One index lookup (the reference's key), whatever the size of the run (on a
    file older than schema 8 opened read-only, a search of the run's events).
    """
    via = ("i.stream_uid" if reader.frame_spans else
           "(SELECT e.stream_uid FROM events e WHERE e.uid = i.event_uid)")
    rows = reader.rows(
        "SELECT i.zarr_path, i.frame_index FROM image_refs i "
        f"JOIN streams s ON s.uid = {via} "
        "WHERE i.event_uid = ? AND i.field_name = ? AND s.run_uid = ?",
        (event_uid, field, run_uid))
    return (str(rows[0][0]), int(rows[0][1])) if rows else None


def image_rows_by_seq(reader: BeamtimeReader, run_uid: str, stream: str,
                      field: str) -> list[Row]:
    """Return ``(seq_num, zarr_path, frame_index)`` of one field's frames, in row order."""
    return reader.rows(_IMAGE_ROWS.replace("SELECT ", "SELECT e.seq_num, ", 1),
                       (run_uid, stream, field))


def unresolved_rows(reader: BeamtimeReader, run_uid: str, stream: str) -> list[Row]:
    """Return ``(field, seq_num, reference, reason)`` of a stream's frames never stored.

    The frames of the stream's events that could not be read into the store
    (``unresolved_frames``), in the order they were recorded.
    """
    return reader.rows(
        "SELECT u.field_name, u.seq_num, u.reference, u.reason FROM unresolved_frames u "
        "JOIN streams s ON s.uid = u.stream_uid WHERE s.run_uid = ? AND s.name = ? "
        "AND u.field_name IS NOT NULL AND u.seq_num IS NOT NULL ORDER BY u.id",
        (run_uid, stream))


def stream_documents(reader: BeamtimeReader, run_uid: str) -> list[Row]:
    """Return ``(name, document)`` of a run's stream_resource and stream_datum documents."""
    return reader.rows(
        "SELECT name, document FROM external_documents WHERE run_uid = ? "
        "AND name IN ('stream_resource', 'stream_datum') ORDER BY ordinal", (run_uid,))


def rejected_rows(reader: BeamtimeReader, run_uid: str) -> list[Row]:
    """Return ``(name, uid, reason, document, time)`` of a run's rejected documents, in order."""
    return reader.rows(
        "SELECT name, uid, reason, document, time FROM rejected_documents "
        "WHERE run_uid = ? ORDER BY id", (run_uid,))


@dataclasses.dataclass(frozen=True)
class RunDocumentRows:
    """Everything a run's document stream is rebuilt from, read in one snapshot.

    Attributes
    ----------
    run : tuple or None
        ``(uid, plan_name, scan_id, time_start, metadata, stop_document)``;
        None if there is no such run.
    streams : list of tuple
        ``(uid, name, time, data_keys, configuration, document, rowid)``.
    events : list of tuple
        ``(uid, stream_uid, seq_num, time, data, timestamps, filled, rowid)``
        of the events rows that came from event documents (not derived).
    refs : list of tuple
        ``(event_uid, field_name, zarr_path, frame_index, timestamp)`` of those events.
    externals : list of tuple
        ``(name, uid, ordinal, document)`` of resources, datums and stream documents.
    """

    run: Row | None
    streams: list[Row]
    events: list[Row]
    refs: list[Row]
    externals: list[Row]


def document_rows(reader: BeamtimeReader, run_uid: str) -> RunDocumentRows:
    """Read, in one snapshot, the rows a run's documents are rebuilt from."""
    with reader.snapshot():
        run = reader.rows("SELECT uid, plan_name, scan_id, time_start, metadata, "
                          "stop_document FROM runs WHERE uid = ?", (run_uid,))
        if not run:
            return RunDocumentRows(None, [], [], [], [])
        return RunDocumentRows(
            run[0],
            reader.rows("SELECT uid, name, time, data_keys, configuration, document, rowid "
                        "FROM streams WHERE run_uid = ?", (run_uid,)),
            reader.rows(_EVENTS, (run_uid,)),
            reader.rows(_REFS, (run_uid,)),
            reader.rows("SELECT name, uid, ordinal, document FROM external_documents "
                        "WHERE run_uid = ? ORDER BY ordinal", (run_uid,)))


def external_documents(reader: BeamtimeReader, run_uid: str, name: str,
                       uid: str | None = None) -> list[str]:
    """The JSON text of a run's external documents called ``name``, in arrival order.

    ``uid`` keeps only that document, looked for among the run's and then among
    those kept without a run (a resource naming no ``run_start``).
    """
    args: tuple[str, ...]
    if uid is None:
        where, args = "run_uid = ? AND name = ?", (run_uid, name)
    else:
        where, args = "(run_uid = ? OR run_uid IS NULL) AND name = ? AND uid = ?", (
            run_uid, name, uid)
    rows = reader.rows(f"SELECT document FROM external_documents WHERE {where} "
                       "ORDER BY run_uid IS NULL, ordinal", args)
    return [row[0] for row in rows]
