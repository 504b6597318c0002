"""``resonance-callback check``: find what is damaged, missing or left open in a beamtime.

:func:`check_beamtime` opens a beamtime database read-only and looks for

* SQLite damage (``PRAGMA integrity_check``, ``PRAGMA foreign_key_check``);
* ``image_refs`` rows whose event is missing, whose Zarr array is missing,
  whose ``frame_index`` is not below the array's length (``shape[0]``), or whose
  frame cannot be read back (its chunk file missing, truncated or damaged: every
  referenced frame is read and decoded, so ``check`` reads the whole store);
* detector frames that could not be read into the store (``unresolved_frames``);
* runs left open (``exit_status`` NULL) by a writer that is gone, and runs marked
  ``interrupted`` by ``repair``;
* documents kept in ``rejected_documents``;
* event uids stored on more than one row (given to different events);
* frame arrays whose dtype is not the ``dtype_numpy`` their descriptor declares
  (frames read from detector files are stored as the file holds them).

Any of these is a problem; :attr:`CheckReport.ok` is True when there is none that was
not acknowledged (``check --ack``, :mod:`._check_acks`): those are listed as
acknowledged. A run still being written (its writer holds its lock) is listed in
``open_runs`` with ``"live": True`` and is not a problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import zarr

from resonance_callback import jsoncodec
from resonance_callback.errors import StorageError
from resonance_callback.read._check_report import CheckReport, found
from resonance_callback.read._check_zarr import (
    _array_length,
    _open_group,
    _span,
    _unreadable_frames,
)
from resonance_callback.store import (
    BeamtimeReader,
    acknowledgements,
    frame_stores,
    inspect_queries,
    writer_alive,
)

__all__ = ["CheckReport", "check_beamtime", "read_acknowledged"]


def check_beamtime(db_path: Path | str, *, zarr_store: Path | str | None = None) -> CheckReport:
    """Check a beamtime database and its Zarr store; never writes to either.

    Parameters
    ----------
    db_path : Path or str
        The beamtime SQLite file.
    zarr_store : Path or str, optional
        The frame store; default ``{db stem}.zarr`` beside the database.

    Returns
    -------
    CheckReport
        What was found.

    Raises
    ------
    OSError
        If the database does not exist or cannot be opened (:class:`StorageError`).
    sqlite3.DatabaseError
        If the file is not a beamtime database (:class:`NotABeamtimeError`).
    """
    db_path = Path(db_path)
    store = frame_stores.frames_location(db_path, zarr_store)
    report = CheckReport(str(db_path), str(store))
    with BeamtimeReader(db_path) as reader:
        for section in (_integrity, _image_refs, _unresolved, _open_runs, _rejected,
                        _reused, _declared, read_acknowledged):
            try:
                section(reader, store, report)
            except StorageError as exc:  # a damaged file: report it, check the rest
                reason = exc.__cause__ if exc.__cause__ is not None else exc
                report.integrity.append(f"{section.__name__.strip('_')}: {reason}")
    return report


def _integrity(reader: BeamtimeReader, store: Any, report: CheckReport) -> None:
    report.integrity += inspect_queries.integrity_messages(reader)
    for table, rowid, parent, _ in inspect_queries.foreign_key_violations(reader):
        report.integrity.append(f"{table} row {rowid} refers to a missing {parent} row")


def _image_refs(reader: BeamtimeReader, store: Any, report: CheckReport) -> None:
    report.image_refs_checked = inspect_queries.image_ref_count(reader)
    orphans = inspect_queries.orphan_image_refs(reader)
    if orphans:
        report.bad_image_refs.append({"zarr_path": "*", "rows": orphans,
                                      "problem": "no events row with this event_uid"})
    group = _open_group(store) if report.image_refs_checked else None
    for path, rows in inspect_queries.image_ref_arrays(reader):
        length = _array_length(group, path)
        if length is None:
            report.bad_image_refs.append({"zarr_path": path, "rows": rows,
                                          "problem": "no such array in the Zarr store"})
            continue
        beyond = inspect_queries.image_refs_beyond(reader, path, length)
        if beyond:
            report.bad_image_refs.append({"zarr_path": path, "rows": beyond,
                                          "problem": f"frame_index beyond the array's "
                                                     f"{length} frame(s)"})
        assert group is not None  # an array was found in it
        unreadable = _unreadable_frames(store, group, path,
                                        inspect_queries.image_ref_indices(reader, path), length)
        if unreadable:
            report.bad_image_refs.append({
                "zarr_path": path, "rows": len(unreadable),
                "problem": f"frame(s) {_span(unreadable)} cannot be read back "
                           "(chunk file missing, truncated or damaged)"})


def _unresolved(reader: BeamtimeReader, store: Any, report: CheckReport) -> None:
    keys = ("run_uid", "stream", "field", "seq_num", "reference", "reason")
    report.unresolved_frames = [dict(zip(keys, row, strict=True))
                                for row in inspect_queries.unresolved_rows(reader)]


def _open_runs(reader: BeamtimeReader, store: Any, report: CheckReport) -> None:
    db_path = Path(report.db_path)
    report.open_runs = [{"uid": uid, "plan_name": plan, "time_start": start,
                         "live": writer_alive(db_path, writer)}
                        for uid, plan, start, writer in inspect_queries.open_run_rows(reader)]
    report.interrupted_runs = [
        dict(zip(("uid", "plan_name", "time_start", "reason"), row, strict=True))
        for row in inspect_queries.interrupted_run_rows(reader)]


def _reused(reader: BeamtimeReader, store: Any, report: CheckReport) -> None:
    report.reused_event_uids = [{"uid": uid, "rows": rows, "streams": streams} for
                                uid, rows, streams in inspect_queries.reused_event_uids(reader)]


def _rejected(reader: BeamtimeReader, store: Any, report: CheckReport) -> None:
    with reader.snapshot():  # every document counted is up to the last id, and no other
        report.rejected_documents = inspect_queries.rejected_counts(reader)
        report.rejected_last_id = acknowledgements.last_rejected_id(reader)


def read_acknowledged(reader: BeamtimeReader, store: Any, report: CheckReport) -> None:
    """Fill ``report.acknowledged`` and ``rejected_acknowledged`` from the beamtime.

    The last section of a check (``store`` is not used); :func:`acknowledge_problems`
    calls it again once it has recorded what it acknowledged.
    """
    acks = acknowledgements.acknowledged_problems(reader)
    report.acknowledged = [
        {"kind": kind, "key": key, "time": acks[kind, key][0], "note": acks[kind, key][1]}
        for kind, key in found(report) if (kind, key) in acks]
    report.rejected_acknowledged = acknowledgements.acknowledged_rejected(reader)


def _declared(reader: BeamtimeReader, store: Any, report: CheckReport) -> None:
    """Frame arrays whose dtype is not the ``dtype_numpy`` their descriptor declares."""
    group = _open_group(store)
    for run_uid, stream, name, path, data_keys in inspect_queries.framed_declarations(reader):
        key = (jsoncodec.loads(data_keys) or {}).get(name)
        declared = key.get("dtype_numpy") if isinstance(key, dict) else None
        if not isinstance(declared, str) or group is None:
            continue
        try:
            wanted, array = np.dtype(declared), group[path]
        except (TypeError, ValueError, KeyError, OSError):  # not a dtype, or no array: reported
            continue                                         # by the image_refs check
        if isinstance(array, zarr.Array) and array.dtype != wanted:
            report.declared_mismatches.append({
                "run_uid": run_uid, "stream": stream, "field": name, "zarr_path": path,
                "declared": declared, "stored": array.dtype.str})
