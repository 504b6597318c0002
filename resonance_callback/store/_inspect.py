"""The rows the ``show`` and ``check`` commands report: one run in detail, and damage.

Plain rows in a documented order; :mod:`resonance_callback.read` turns them
into the commands' data.
"""

from __future__ import annotations

from typing import Any

from resonance_callback.store._reader import BeamtimeReader

__all__ = ["array_rows", "foreign_key_violations", "framed_fields", "image_ref_arrays",
           "image_ref_count", "image_refs_beyond", "integrity_messages", "open_run_rows",
           "orphan_image_refs", "rejected_counts", "rejected_summaries", "reused_event_uids",
           "run_detail", "stream_details", "unresolved_rows"]

Row = tuple[Any, ...]


def run_detail(reader: BeamtimeReader, run_uid: str) -> Row | None:
    """Return one run's row with its sample's name, or None.

    The row is ``(uid, scan_id, plan_name, sample, time_start, time_stop,
    exit_status, reason, metadata, stop_document)``.
    """
    rows = reader.rows(
        "SELECT r.uid, r.scan_id, r.plan_name, sm.name, r.time_start, r.time_stop, "
        "r.exit_status, r.reason, r.metadata, r.stop_document FROM runs r "
        "LEFT JOIN samples sm ON sm.id = r.sample_id WHERE r.uid = ?", (run_uid,))
    return rows[0] if rows else None


def stream_details(reader: BeamtimeReader, run_uid: str) -> list[Row]:
    """Return ``(uid, name, time, data_keys, events)`` per descriptor, in the order declared.

    ``events`` counts every events row of the descriptor, derived rows included
    (the definition of :mod:`._counts`).
    """
    return reader.rows(
        "SELECT s.uid, s.name, s.time, s.data_keys, (SELECT count(*) FROM events e "
        "WHERE e.stream_uid = s.uid) FROM streams s WHERE s.run_uid = ? ORDER BY s.rowid",
        (run_uid,))


def framed_fields(reader: BeamtimeReader, stream_uid: str) -> dict[str, str]:
    """Return ``{field: zarr_path}`` of the fields of one descriptor that have frames."""
    return {field: path for field, path in reader.rows(
        "SELECT i.field_name, i.zarr_path FROM image_refs i JOIN events e "
        "ON e.uid = i.event_uid WHERE e.stream_uid = ? GROUP BY i.field_name", (stream_uid,))}


def framed_declarations(reader: BeamtimeReader) -> list[Row]:
    """Return ``(run_uid, stream, field, zarr_path, data_keys)`` per array of each descriptor.

    ``data_keys`` is the descriptor's JSON, so the field's declaration can be
    compared with the frames stored.
    """
    return reader.rows(
        "SELECT s.run_uid, s.name, i.field_name, i.zarr_path, s.data_keys FROM image_refs i "
        "JOIN events e ON e.uid = i.event_uid JOIN streams s ON s.uid = e.stream_uid "
        "GROUP BY s.uid, i.field_name, i.zarr_path ORDER BY min(i.rowid)")


def array_rows(reader: BeamtimeReader, run_uid: str) -> list[Row]:
    """Return ``(zarr_path, field, frames, codec)`` per Zarr array a run's rows point at."""
    return reader.rows(
        "SELECT i.zarr_path, i.field_name, count(*), min(i.compression_codec) FROM image_refs i "
        "JOIN events e ON e.uid = i.event_uid JOIN streams s ON s.uid = e.stream_uid "
        "WHERE s.run_uid = ? GROUP BY i.zarr_path ORDER BY min(i.rowid)", (run_uid,))


def rejected_summaries(reader: BeamtimeReader, run_uid: str) -> list[Row]:
    """Return ``(name, uid, reason)`` of a run's rejected documents, in arrival order."""
    return reader.rows("SELECT name, uid, reason FROM rejected_documents WHERE run_uid = ? "
                       "ORDER BY id", (run_uid,))


def unresolved_rows(reader: BeamtimeReader, run_uid: str | None = None) -> list[Row]:
    """Return ``(run_uid, stream, field, seq_num, reference, reason)`` of unresolved frames.

    Those of one run when ``run_uid`` is given, else all; in the order recorded.
    """
    sql = ("SELECT u.run_uid, s.name, u.field_name, u.seq_num, u.reference, u.reason "
           "FROM unresolved_frames u LEFT JOIN streams s ON s.uid = u.stream_uid")
    if run_uid is None:
        return reader.rows(sql + " ORDER BY u.id")
    return reader.rows(sql + " WHERE u.run_uid = ? ORDER BY u.id", (run_uid,))


def integrity_messages(reader: BeamtimeReader) -> list[str]:
    """Return ``PRAGMA integrity_check``'s messages other than ``ok``."""
    return [row[0] for row in reader.rows("PRAGMA integrity_check") if row[0] != "ok"]


def foreign_key_violations(reader: BeamtimeReader) -> list[Row]:
    """Return ``(table, rowid, parent, fk index)`` per row referring to a missing row."""
    return reader.rows("PRAGMA foreign_key_check")


def image_ref_count(reader: BeamtimeReader) -> int:
    """Return how many ``image_refs`` rows the beamtime holds."""
    return int(reader.rows("SELECT count(*) FROM image_refs")[0][0])


def orphan_image_refs(reader: BeamtimeReader) -> int:
    """Return how many ``image_refs`` rows point at no ``events`` row."""
    return int(reader.rows("SELECT count(*) FROM image_refs i LEFT JOIN events e "
                           "ON e.uid = i.event_uid WHERE e.uid IS NULL")[0][0])


def reused_event_uids(reader: BeamtimeReader) -> list[Row]:
    """Return ``(uid, rows, stream uids)`` of event uids stored in more than one row.

    The same document stored twice is one row (the key is ``(stream_uid, seq_num,
    uid)``); a uid on several rows was given to different events by their producer.
    """
    return reader.rows("SELECT uid, count(*), group_concat(DISTINCT stream_uid) FROM events "
                       "GROUP BY uid HAVING count(*) > 1 ORDER BY min(rowid)")


def image_ref_arrays(reader: BeamtimeReader) -> list[Row]:
    """Return ``(zarr_path, rows)`` per Zarr array referenced, sorted by path."""
    return reader.rows("SELECT zarr_path, count(*) FROM image_refs GROUP BY zarr_path "
                       "ORDER BY zarr_path")


def image_refs_beyond(reader: BeamtimeReader, zarr_path: str, length: int) -> int:
    """Return how many rows of one array have a ``frame_index`` outside ``[0, length)``."""
    return int(reader.rows("SELECT count(*) FROM image_refs WHERE zarr_path = ? AND "
                           "(frame_index < 0 OR frame_index >= ?)", (zarr_path, length))[0][0])


def open_run_rows(reader: BeamtimeReader) -> list[Row]:
    """Return ``(uid, plan_name, time_start, writer)`` of runs with no exit status, oldest first.

    ``writer`` is the ``writers.token`` of the writer that opened the run (None for a
    run from before schema version 2).
    """
    if not reader.rows("SELECT 1 FROM pragma_table_info('runs') WHERE name = 'writer'"):
        return reader.rows("SELECT uid, plan_name, time_start, NULL FROM runs "
                           "WHERE exit_status IS NULL ORDER BY time_start")
    return reader.rows("SELECT uid, plan_name, time_start, writer FROM runs "
                       "WHERE exit_status IS NULL ORDER BY time_start")


def interrupted_run_rows(reader: BeamtimeReader) -> list[Row]:
    """Return ``(uid, plan_name, time_start, reason)`` of runs marked interrupted, oldest first."""
    return reader.rows("SELECT uid, plan_name, time_start, reason FROM runs "
                       "WHERE exit_status = 'interrupted' ORDER BY time_start")


def image_ref_indices(reader: BeamtimeReader, zarr_path: str) -> list[int]:
    """Return the distinct ``frame_index`` values of one array's rows, ascending."""
    return [int(i) for (i,) in reader.rows(
        "SELECT DISTINCT frame_index FROM image_refs WHERE zarr_path = ? ORDER BY frame_index",
        (zarr_path,))]


def rejected_counts(reader: BeamtimeReader) -> dict[str, int]:
    """Return rejected documents counted by document name."""
    return {name: n for name, n in reader.rows(
        "SELECT name, count(*) FROM rejected_documents GROUP BY name")}
