"""Rebuild the master index from the beamtime databases, which are the source of truth.

:func:`reindex` visits every registered beamtime, reads its runs with plain
SQL through a read-only connection, and makes the index's rows for that
beamtime match: every run upserted, rows of runs no longer in the database
removed. Running it twice changes nothing the second time.

It is also how a missed live update is repaired. :class:`RunIndexer` never
lets an index failure reach the scan; when it logs that a run was not
indexed (a locked or unreachable index, a start it never saw), the run is
still in its beamtime database and the next ``resonance-callback reindex
INDEX`` brings the index up to date.

A beamtime database that is missing or unreadable is reported in
:attr:`ReindexReport.problems` and skipped; its index rows are kept (the disk
may merely be unmounted), and the other beamtimes are still reindexed.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from pathlib import Path

from resonance_callback import jsoncodec
from resonance_callback.errors import (
    BeamtimeDatabaseError,
    IndexLookupError,
    ResonanceError,
    StorageError,
)
from resonance_callback.index._dialect import is_url
from resonance_callback.index._model import BeamtimeEntry, RunSummary, tags_from_start
from resonance_callback.index._writer import IndexWriter
from resonance_callback.store import BeamtimeReader, run_overviews, start_scan_id

__all__ = ["ReindexReport", "index_beamtime", "read_beamtime_runs", "reindex"]


@dataclasses.dataclass
class ReindexReport:
    """What a :func:`reindex` did.

    Parameters
    ----------
    beamtimes : int
        Beamtime databases read successfully.
    runs_indexed : int
        Runs written to the index.
    runs_removed : int
        Index rows removed because their run is no longer in its database.
    problems : list of str
        One line per beamtime that could not be read, naming its path.
    """

    beamtimes: int = 0
    runs_indexed: int = 0
    runs_removed: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """bool: True when every registered beamtime was read."""
        return not self.problems


def read_beamtime_runs(db_path: str | os.PathLike[str]) -> list[RunSummary]:
    """Read the summary of every run in a beamtime database.

    Parameters
    ----------
    db_path : str or PathLike
        The beamtime database; opened read-only.

    Returns
    -------
    list of RunSummary
        One per row of its ``runs`` table, oldest first. ``num_events`` is
        the store's count of the events of a run (every events row per stream
        name, rows the writer derived for fly scans included); a run without
        ``time_stop`` is open and gets no end.

    Raises
    ------
    StorageError
        If the file does not exist or cannot be opened.
    NotABeamtimeError
        If the file is not a beamtime database.
    BeamtimeDatabaseError
        If its tables cannot be read.
    """
    try:
        with BeamtimeReader(db_path) as reader:
            runs = run_overviews(reader)
    except StorageError as exc:
        if isinstance(exc.__cause__, sqlite3.Error):
            raise BeamtimeDatabaseError(
                f"cannot read beamtime database {db_path}: {exc.__cause__}") from exc
        raise
    summaries = []
    for run in reversed(runs):  # oldest first
        uid, plan, sample, scan_id = run.uid, run.plan_name, run.sample, run.scan_id
        t0, t1, status = run.time_start, run.time_stop, run.exit_status
        start = jsoncodec.loads(run.metadata) or {}
        if scan_id is None:  # the column as the store's translation fills it
            scan_id = start_scan_id(start)
        if plan is None and isinstance(start.get("plan_name"), str):
            plan = start["plan_name"]
        summaries.append(RunSummary(
            uid=uid,
            plan_name=plan,
            sample_name=sample,
            scan_id=scan_id,
            time_start=t0,
            time_stop=t1,
            exit_status=status if t1 is not None else None,
            num_events=run.events if t1 is not None else {},
            metadata=start,
            tags=tuple(tags_from_start(start)),
        ))
    return summaries


def index_beamtime(writer: IndexWriter, beamtime: BeamtimeEntry) -> tuple[int, int]:
    """Make the index's runs of one beamtime match its database.

    Parameters
    ----------
    writer : IndexWriter
        The index to update.
    beamtime : BeamtimeEntry
        The registered beamtime (see :meth:`IndexWriter.beamtimes`).

    Returns
    -------
    tuple of int
        Runs written, runs removed.

    Raises
    ------
    StorageError
        If the beamtime database is missing or unreadable.
    NotABeamtimeError
        If it is not a beamtime database.
    """
    # Read first, outside the index's write lock, then write in one transaction.
    summaries = read_beamtime_runs(beamtime.db_path)
    return writer.sync_beamtime(beamtime.id, summaries)


def reindex(index_path: str | os.PathLike[str]) -> ReindexReport:
    """Rebuild every run summary in the index from the registered beamtime databases.

    Parameters
    ----------
    index_path : str or PathLike
        The master index database, or its ``postgresql://`` URL.

    Returns
    -------
    ReindexReport
        Counts, and one line per beamtime that could not be read.

    Raises
    ------
    StorageError
        If there is no index at ``index_path`` or it cannot be written.
    NotABeamtimeError
        If the file is not an index database.
    """
    if not is_url(index_path):
        index_path = Path(index_path)
        if not index_path.is_file():
            raise StorageError(f"no index database at {index_path}")
    report = ReindexReport()
    with IndexWriter(index_path) as writer:
        for beamtime in writer.beamtimes():
            try:
                summaries = read_beamtime_runs(beamtime.db_path)
            except (ResonanceError, OSError) as exc:
                report.problems.append(
                    f"beamtime {beamtime.label!r} of {beamtime.researcher} not reindexed: {exc}"
                )
                continue
            try:
                written, removed = writer.sync_beamtime(beamtime.id, summaries)
            except IndexLookupError:  # another process removed it meanwhile
                continue
            report.beamtimes += 1
            report.runs_indexed += written
            report.runs_removed += removed
    return report
