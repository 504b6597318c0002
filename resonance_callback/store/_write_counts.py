"""What a writer stored: the beamtime's row counts and what this session did."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from resonance_callback.store._batch import Batch

__all__ = ["WriteCounts", "run_counts", "write_counts"]


@dataclass(frozen=True, slots=True)
class WriteCounts:
    """Rows in a beamtime, and what one writer's session did to it.

    Attributes
    ----------
    runs, events, frames, rejected_documents : int
        Rows in ``runs``, ``events``, ``image_refs`` and ``rejected_documents``.
    resumed : int
        Runs of this session whose start was already stored.
    already_stored : int
        Documents of this session skipped because identical ones were stored.
    rejected : int
        Documents of this session rejected, including those whose rejection was
        already stored.
    """

    runs: int
    events: int
    frames: int
    rejected_documents: int
    resumed: int = 0
    already_stored: int = 0
    rejected: int = 0


def write_counts(batch: Batch, session: Mapping[str, int]) -> WriteCounts:
    """Count the beamtime's rows (committed or pending in ``batch``) and add ``session``'s."""
    row = batch.execute(
        "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM events), "
        "(SELECT count(*) FROM image_refs), (SELECT count(*) FROM rejected_documents)"
    ).fetchone()
    return WriteCounts(runs=row[0], events=row[1], frames=row[2], rejected_documents=row[3],
                       resumed=session.get("resumed", 0),
                       already_stored=session.get("already_stored", 0),
                       rejected=session.get("rejected", 0))


def run_counts(conn: sqlite3.Connection, run_uid: str) -> tuple[dict[str, int], int]:
    """Return one run's events rows per stream name (in declared order) and rejected documents.

    Read on the writer's own connection (committed rows, and pending ones if a
    batch is open); every events row counts, as :mod:`._counts` counts them.
    """
    streams = {name: n for name, n in conn.execute(
        "SELECT s.name, count(e.uid) FROM streams s LEFT JOIN events e ON e.stream_uid = s.uid "
        "WHERE s.run_uid = ? GROUP BY s.name ORDER BY min(s.rowid)", (run_uid,))}
    (rejected,) = conn.execute("SELECT count(*) FROM rejected_documents WHERE run_uid = ?",
                               (run_uid,)).fetchone()
    return streams, int(rejected)
