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

Any of these is a problem; :attr:`CheckReport.ok` is True when there is none. A run
still being written (its writer holds its lock) is listed in ``open_runs`` with
``"live": True`` and is not a problem.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from resonance_callback import jsoncodec
from resonance_callback.errors import StorageError
from resonance_callback.read._check_zarr import (
    _array_length,
    _open_group,
    _span,
    _unreadable_frames,
)
from resonance_callback.store import BeamtimeReader, frame_stores, inspect_queries, writer_alive

__all__ = ["CheckReport", "check_beamtime"]


@dataclass
class CheckReport:
    """What :func:`check_beamtime` found; every list is empty for a sound beamtime.

    Attributes
    ----------
    db_path, zarr_path : str
        What was checked.
    integrity : list of str
        ``PRAGMA integrity_check`` messages other than ``ok``, and foreign-key
        violations.
    image_refs_checked : int
        ``image_refs`` rows looked at.
    bad_image_refs : list of dict
        ``{"zarr_path", "rows", "problem"}`` per array with bad references.
    unresolved_frames : list of dict
        ``{"run_uid", "stream", "field", "seq_num", "reference", "reason"}``.
    open_runs : list of dict
        ``{"uid", "plan_name", "time_start", "live"}`` of runs with no exit status;
        ``live`` is True while the writer that opened the run is running.
    interrupted_runs : list of dict
        ``{"uid", "plan_name", "time_start", "reason"}`` of runs marked interrupted.
    rejected_documents : dict of str to int
        Rejected documents counted by document name.
    reused_event_uids : list of dict
        ``{"uid", "rows", "streams"}`` per event uid stored on several rows.
    declared_mismatches : list of dict
        ``{"run_uid", "stream", "field", "zarr_path", "declared", "stored"}`` per
        frame array whose dtype differs from the ``dtype_numpy`` its descriptor
        declares (detector files are stored as they are, never cast).
    """

    db_path: str
    zarr_path: str
    integrity: list[str] = field(default_factory=list)
    image_refs_checked: int = 0
    bad_image_refs: list[dict[str, Any]] = field(default_factory=list)
    unresolved_frames: list[dict[str, Any]] = field(default_factory=list)
    open_runs: list[dict[str, Any]] = field(default_factory=list)
    interrupted_runs: list[dict[str, Any]] = field(default_factory=list)
    rejected_documents: dict[str, int] = field(default_factory=dict)
    reused_event_uids: list[dict[str, Any]] = field(default_factory=list)
    declared_mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """One line per kind of problem found."""
        found = []
        if self.integrity:
            found.append(f"{len(self.integrity)} database integrity message(s)")
        if self.bad_image_refs:
            rows = sum(bad["rows"] for bad in self.bad_image_refs)
            found.append(f"{rows} image_refs row(s) pointing at no stored frame")
        if self.unresolved_frames:
            found.append(f"{len(self.unresolved_frames)} unresolved detector frame(s)")
        left = [run for run in self.open_runs if not run["live"]]
        if left:
            found.append(f"{len(left)} run(s) left open")
        if self.interrupted_runs:
            found.append(f"{len(self.interrupted_runs)} run(s) interrupted")
        if self.rejected_documents:
            found.append(f"{sum(self.rejected_documents.values())} rejected document(s)")
        if self.reused_event_uids:
            found.append(f"{len(self.reused_event_uids)} event uid(s) given to several events")
        if self.declared_mismatches:
            found.append(f"{len(self.declared_mismatches)} frame array(s) not of their "
                         "declared dtype")
        return found

    @property
    def ok(self) -> bool:
        """True if no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data, with ``ok`` and ``problems``."""
        return {"ok": self.ok, "problems": self.problems, **asdict(self)}

    def lines(self) -> list[str]:
        """The report as text lines for a terminal."""
        out = [f"{self.db_path} (frames in {self.zarr_path})"]
        out.append(f"integrity: {'ok' if not self.integrity else 'DAMAGED'}")
        out += [f"  {message}" for message in self.integrity]
        out.append(f"image_refs: {self.image_refs_checked} checked, "
                   f"{sum(b['rows'] for b in self.bad_image_refs)} bad")
        out += [f"  {b['zarr_path']}: {b['rows']} row(s): {b['problem']}"
                for b in self.bad_image_refs]
        out.append(f"unresolved detector frames: {len(self.unresolved_frames)}")
        out += [f"  run {u['run_uid']} {u['stream']}/{u['field']} seq_num {u['seq_num']} "
                f"({u['reference']}): {u['reason']}" for u in self.unresolved_frames]
        out.append(f"open runs: {len(self.open_runs)}")
        out += [f"  run {r['uid']} {r['plan_name']} started {_when(r['time_start'])}: "
                + ("being written" if r["live"] else "its writer is gone; run repair")
                for r in self.open_runs]
        out.append(f"interrupted runs: {len(self.interrupted_runs)}")
        out += [f"  run {r['uid']} {r['plan_name']} started {_when(r['time_start'])}: "
                f"{r['reason']}" for r in self.interrupted_runs]
        counts = ", ".join(f"{n} {name}" for name, n in sorted(self.rejected_documents.items()))
        out.append(f"rejected documents: {sum(self.rejected_documents.values())}"
                   + (f" ({counts})" if counts else ""))
        out.append(f"event uids on several events: {len(self.reused_event_uids)}")
        out += [f"  {r['uid']}: {r['rows']} rows (streams {r['streams']})"
                for r in self.reused_event_uids]
        out.append(f"frame arrays not of their declared dtype: {len(self.declared_mismatches)}")
        out += [f"  run {m['run_uid']} {m['stream']}/{m['field']} ({m['zarr_path']}): declared "
                f"{m['declared']}, stored {m['stored']}" for m in self.declared_mismatches]
        out.append("OK: no problems found" if self.ok else "PROBLEMS: " + "; ".join(self.problems))
        return out


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).isoformat(timespec="seconds")


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
                        _reused, _declared):
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
    report.rejected_documents = inspect_queries.rejected_counts(reader)


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
