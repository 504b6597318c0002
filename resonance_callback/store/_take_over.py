"""A run resumed after its writer died: its frames past the last commit go, and it is ours.

A writer killed mid-run may leave frames past its last commit: chunk files, and an
array grown in its ``zarr.json`` before the rows that point into it were committed.
:mod:`._repair` trims them, but only while no writer at all is alive (one could be
appending); with another writer open, as in a ``serve`` fleet whose surviving member
carries on a dead member's runs, the trimming is deferred. Appending to such an array
would put the next frame after the dead writer's orphan, one place further than its
event's position: the frames of a stream would no longer line up with its events.

So when a writer resumes a run (its ``start`` is found stored: a replay, or a
``serve`` process fed the run again after a crash or a rebalance) whose writer is
gone, it trims that run's arrays first, back to the frames committed rows point
at, and then tags the run with its own token, so the run is live again for
``repair`` and for writers opening meanwhile. A run's arrays are appended to
only by the writer of that run, so this is safe while other writers are alive.
A run whose writer is alive (the same stream replayed twice at once) or that
is closed (its ``stop`` stored: every frame was committed before it) is left
as it is.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from resonance_callback.store._liveness import writer_alive
from resonance_callback.store._repair import trim_store
from resonance_callback.store._repair_report import RepairReport
from resonance_callback.store._vocabulary import INTERRUPTED

__all__ = ["take_over_run"]

log = logging.getLogger(__name__)


def take_over_run(conn: sqlite3.Connection, db_path: Path, frames: Any, token: str,
                  uid: str) -> RepairReport | None:
    """Make run ``uid``, found stored and resumed, this writer's; trim it if its writer is gone.

    Parameters
    ----------
    conn : sqlite3.Connection
        The writer's connection, inside its batch (the new tag is committed with it).
    db_path : Path
        The beamtime database (its ``.writers`` folder tells who is alive).
    frames : str or Path or None
        Where the beamtime's frames are (a folder or an object-store URL); None: none.
    token : str
        This writer's token.
    uid : str
        The resumed run.

    Returns
    -------
    RepairReport or None
        What was trimmed, or None when the run was left as it is.

    Raises
    ------
    OSError
        If an array cannot be trimmed (:class:`StorageError` naming it).
    """
    row = conn.execute("SELECT writer, exit_status FROM runs WHERE uid = ?", (uid,)).fetchone()
    if row is None:
        return None
    writer, status = row
    if writer == token or status not in (None, INTERRUPTED) or writer_alive(db_path, writer):
        return None
    report = RepairReport(str(db_path), str(frames))
    if frames is not None:
        trim_store(conn, frames, report, [uid])
    conn.execute("UPDATE runs SET writer = ? WHERE uid = ?", (token, uid))
    for trimmed in report.trimmed:
        log.warning("run %s resumed after its writer was gone: %s cut from %d to %d frames "
                    "(frames past its last commit)", uid, trimmed["zarr_path"],
                    trimmed["from"], trimmed["to"])
    return report
