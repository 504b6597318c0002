"""Which problems of a :class:`CheckReport` are new, and ``check --ack``.

Every problem ``check`` lists but database damage can be acknowledged: it is named by
its kind and a key that stays the same while the problem does, so acknowledging it
covers that problem only, never another of the same kind found later:

======================  =============================================================
kind                    key
======================  =============================================================
``bad_image_ref``       ``{zarr_path}: {rows} row(s): {problem}`` (more rows, or other
                        frames unreadable, is another key)
``unresolved_frame``    ``run {run_uid} {stream}/{field} seq_num {seq_num}``
``open_run``            the run's uid (a run left open by a writer that is gone)
``interrupted_run``     the run's uid
``rejected_document``   the ``rejected_documents`` row's id (counted, never listed)
``reused_event_uid``    ``{uid} on {rows} rows``
``declared_mismatch``   ``run {run_uid} {stream}/{field} ({zarr_path}): declared
                        {declared}, stored {stored}``
======================  =============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resonance_callback.errors import StorageError
from resonance_callback.store import BeamtimeReader, acknowledgements

if TYPE_CHECKING:
    from resonance_callback.read._check import CheckReport

__all__ = ["KINDS", "acknowledge_problems", "found", "new_problems", "read_acknowledged"]

Item = dict[str, Any]

#: Per kind: the :class:`CheckReport` list it is found in, and the key naming one problem.
KINDS: dict[str, tuple[str, Callable[[Item], str]]] = {
    "bad_image_ref": ("bad_image_refs",
                      lambda b: f"{b['zarr_path']}: {b['rows']} row(s): {b['problem']}"),
    "unresolved_frame": ("unresolved_frames", lambda u: (
        f"run {u['run_uid']} {u['stream']}/{u['field']} seq_num {u['seq_num']}")),
    "open_run": ("open_runs", lambda r: str(r["uid"])),
    "interrupted_run": ("interrupted_runs", lambda r: str(r["uid"])),
    "reused_event_uid": ("reused_event_uids", lambda r: f"{r['uid']} on {r['rows']} rows"),
    "declared_mismatch": ("declared_mismatches", lambda m: (
        f"run {m['run_uid']} {m['stream']}/{m['field']} ({m['zarr_path']}): declared "
        f"{m['declared']}, stored {m['stored']}")),
}


def _items(report: CheckReport, kind: str) -> list[Item]:
    items: list[Item] = getattr(report, KINDS[kind][0])
    return [r for r in items if not r["live"]] if kind == "open_run" else items


def found(report: CheckReport) -> Iterator[tuple[str, str]]:
    """Yield ``(kind, key)`` of every problem in ``report`` that can be acknowledged."""
    for kind, (_, key) in KINDS.items():
        for item in _items(report, kind):
            yield kind, key(item)


def new_problems(report: CheckReport) -> dict[str, list[Item]]:
    """Return, per kind, the problems of ``report`` not acknowledged."""
    seen = {(a["kind"], a["key"]) for a in report.acknowledged}
    return {kind: [item for item in _items(report, kind) if (kind, key(item)) not in seen]
            for kind, (_, key) in KINDS.items()}


def read_acknowledged(reader: BeamtimeReader, report: CheckReport) -> None:
    """Fill ``report.acknowledged`` and ``rejected_acknowledged`` from the beamtime."""
    acks = acknowledgements.acknowledged_problems(reader)
    report.acknowledged = [
        {"kind": kind, "key": key, "time": acks[kind, key][0], "note": acks[kind, key][1]}
        for kind, key in found(report) if (kind, key) in acks]
    report.rejected_acknowledged = acknowledgements.acknowledged_rejected(reader)


def acknowledge_problems(db_path: Path | str, *, zarr_store: Path | str | None = None,
                         note: str | None = None) -> CheckReport:
    """Check a beamtime and record every problem found as acknowledged (``check --ack``).

    Later checks list those problems as acknowledged and pass while no new one
    appears (:attr:`CheckReport.ok`); a new problem, of the same kind or not, is
    still one. Upgrades the beamtime to schema version 7 if older.

    Parameters
    ----------
    db_path : Path or str
        The beamtime SQLite file.
    zarr_store : Path or str, optional
        The frame store; default ``{db stem}.zarr`` beside the database.
    note : str, optional
        Why, kept with each acknowledgement.

    Returns
    -------
    CheckReport
        The check, with the problems it found acknowledged
        (``acknowledged_now`` counts those not acknowledged before).

    Raises
    ------
    OSError
        If the database cannot be opened or written, or is damaged (integrity
        messages: nothing is acknowledged then) (:class:`StorageError`).
    sqlite3.DatabaseError
        If the file is not a beamtime database (:class:`NotABeamtimeError`).
    """
    from resonance_callback.read._check import check_beamtime

    report = check_beamtime(db_path, zarr_store=zarr_store)
    if report.integrity:
        raise StorageError(f"{db_path} is damaged ({len(report.integrity)} integrity "
                           "message(s)): nothing acknowledged; run check to see them")
    new = new_problems(report)
    problems = [(kind, KINDS[kind][1](item)) for kind, items in new.items() for item in items]
    rejected = sum(report.rejected_documents.values()) > sum(
        report.rejected_acknowledged.values())
    report.acknowledged_now = acknowledgements.record_acknowledgements(
        db_path, problems, rejected_up_to=report.rejected_last_id if rejected else None,
        note=note)
    with BeamtimeReader(db_path) as reader:
        read_acknowledged(reader, report)
    return report
