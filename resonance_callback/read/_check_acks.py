"""``check --ack``: record every problem a check found as acknowledged.

The kinds and keys that name a problem: :mod:`._check_report`.
"""

from __future__ import annotations

from pathlib import Path

from resonance_callback.errors import StorageError
from resonance_callback.read._check import check_beamtime, read_acknowledged
from resonance_callback.read._check_report import KINDS, CheckReport, new_problems
from resonance_callback.store import BeamtimeReader, acknowledgements

__all__ = ["acknowledge_problems"]


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
        read_acknowledged(reader, None, report)
    return report
