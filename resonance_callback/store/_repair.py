"""Recovery after a crash: mark runs cut off as ``interrupted``, trim their Zarr arrays.

A writer killed mid-run leaves its run with ``exit_status`` NULL and, in the Zarr
store, frames written after its last commit (chunk files beyond the array's shape, or
an array longer than the rows that point into it). :func:`repair_beamtime` (the
``repair`` command, and the same work when a writer opens a beamtime) finds every run
left open by a writer that is no longer alive (:mod:`~resonance_callback.store._liveness`),
marks it ``interrupted``, trims each of its arrays to the frames committed rows point at
and removes the chunk files beyond (:mod:`~resonance_callback.store._trim`). Running it
again finds nothing more to do.

It touches only the beamtime's own files: a file that is not already a beamtime is
refused before anything is written (never turned into one), the ``.writers`` folder is
held exclusively while it works (two repairs, or a repair and a writer opening, take
turns), and nothing is reached through a link or a writer token that is not one.
Frames are removed only while no writer is alive (none can be appending to an array,
a run resumed by a replay included); with one alive the runs are marked and the
trimming waits for a later repair (``RepairReport.trim_deferred`` says so).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

from resonance_callback._sqlite import APPLICATION_IDS, connect, transaction
from resonance_callback.errors import NotABeamtimeError, StorageError
from resonance_callback.store._frame_location import frames_location, is_object_url
from resonance_callback.store._liveness import WriterLock
from resonance_callback.store._lockdir import LockDir, token_refusal
from resonance_callback.store._object_trim import trim_objects
from resonance_callback.store._repair_report import RepairReport
from resonance_callback.store._trim import trim_arrays
from resonance_callback.store._vocabulary import INTERRUPTED

__all__ = ["RepairReport", "mark_interrupted", "register_writer", "repair_beamtime",
           "trim_arrays", "trim_store"]


def mark_interrupted(conn: sqlite3.Connection, locks: LockDir, report: RepairReport
                     ) -> list[str]:
    """Mark every run left open by a writer that is gone ``interrupted``; return their uids.

    Also forgets the ``writers`` rows of writers that are gone, and their lock files.
    A token that is not one a writer makes is never used as a file name (its row is
    dropped, its runs marked: no writer of ours holds it); a lock file that is a link
    or not a regular file is left alone with its writer's runs. Both are reported in
    ``report.refused``.

    Parameters
    ----------
    conn : sqlite3.Connection
        A writable connection to the beamtime (schema version 2 or later).
    locks : LockDir
        The beamtime's ``.writers`` folder, held exclusively by the caller.
    report : RepairReport
        Gets what was refused.

    Returns
    -------
    list of str
        The runs marked now, oldest first.
    """
    marked = []
    with transaction(conn):
        writers = {token: (pid, host) for token, pid, host in
                   conn.execute("SELECT token, pid, host FROM writers")}
        states: dict[Any, str] = {}

        def state(token: Any) -> str:
            """``alive``, ``gone``, ``bad token`` (never a name) or ``bad lock`` (refused)."""
            if token not in states:
                found = locks.probe(token)
                if isinstance(found, str):
                    report.refuse(locks.path, found)
                    states[token] = "bad token" if token_refusal(token) else "bad lock"
                else:
                    states[token] = "alive" if found else "gone"
            return states[token]

        for uid, token in conn.execute(
                "SELECT uid, writer FROM runs WHERE exit_status IS NULL ORDER BY time_start"
        ).fetchall():
            if token is not None and state(token) in ("alive", "bad lock"):
                continue  # being written, or its lock file is refused: nobody can tell
            pid, host = writers.get(token, (None, None))
            who = f"writer pid {pid} on {host}" if pid is not None else "its writer"
            reason = (f"{who} stopped before the run's stop document "
                      f"(marked {time.strftime('%Y-%m-%dT%H:%M:%S')})")
            conn.execute("UPDATE runs SET exit_status = ?, reason = ? "
                         "WHERE uid = ? AND exit_status IS NULL", (INTERRUPTED, reason, uid))
            marked.append(uid)
        gone = [token for token in writers if state(token) in ("gone", "bad token")]
        live = sum(state(token) in ("alive", "bad lock") for token in writers)
        if live:
            report.trim_deferred = (f"{live} writer(s) may be writing; frames are only "
                                    "removed while none is: run repair again then")
        conn.executemany("DELETE FROM writers WHERE token = ?", [(t,) for t in gone])
    for token in gone:
        if states[token] == "gone":
            locks.forget(token)
    return marked


def _require_beamtime(db_path: Path) -> None:
    """Refuse, before anything is written or made beside it, a path that is not a beamtime.

    The SQLite header is read first, so another application's database is refused
    without SQLite opening it (which would leave ``-wal`` / ``-shm`` files beside a
    database in WAL mode); a file that may be a beamtime is then opened read-only,
    so an empty, foreign or newer one is refused with nothing written to it.
    """
    try:
        fd = os.open(db_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise StorageError(f"no beamtime database at {db_path}") from None
    except IsADirectoryError:
        raise StorageError(f"{db_path} is a directory, not a beamtime database") from None
    except OSError as exc:
        raise StorageError(f"cannot use {db_path}: {exc}") from exc
    try:
        st = os.fstat(fd)  # a link to a beamtime is fine; to anything else, refused
        if stat.S_ISDIR(st.st_mode):
            raise StorageError(f"{db_path} is a directory, not a beamtime database")
        if not stat.S_ISREG(st.st_mode):
            raise StorageError(f"{db_path} is not a regular file, not a beamtime database")
        header = os.read(fd, 100)
    finally:
        os.close(fd)
    wal = Path(f"{db_path}-wal").exists()  # a crashed writer's header may be in its WAL
    if not header and not wal:
        raise StorageError(f"{db_path} is empty (0 bytes), not a beamtime database; "
                           "repair only repairs an existing beamtime")
    if header and (len(header) < 100 or not header.startswith(b"SQLite format 3\0")):
        raise NotABeamtimeError(f"{db_path} is not an SQLite database, not a beamtime")
    app_id = int.from_bytes(header[68:72], "big") if header else 0
    if app_id != APPLICATION_IDS["beamtime"] and (app_id or not wal):
        raise NotABeamtimeError(f"{db_path} is an SQLite database of another application "
                                "(or an empty one), not a beamtime database")
    connect(db_path, "beamtime", readonly=True).close()


def trim_store(conn: sqlite3.Connection, store: Any, report: RepairReport,
               runs: list[str] | None = None) -> None:
    """Trim the arrays of ``runs`` (default: the interrupted ones), in a folder or a bucket."""
    if is_object_url(store):
        trim_objects(conn, store, report, runs)
    else:
        trim_arrays(conn, Path(store), report, runs)


def repair_beamtime(db_path: Path | str, *, zarr_store: Path | str | None = None
                    ) -> RepairReport:
    """Recover a beamtime after a crash; safe to run any time, again and again, and at once.

    Parameters
    ----------
    db_path : Path or str
        The beamtime SQLite file (upgraded to the current schema if older).
    zarr_store : Path or str, optional
        The frame store; default ``{db stem}.zarr`` beside the database.

    Returns
    -------
    RepairReport
        The runs marked ``interrupted``, the arrays trimmed, the chunk files removed,
        and what was refused (left alone) because following it could leave the beamtime.

    Raises
    ------
    OSError
        If the database does not exist, is not a file, is empty, its ``.writers``
        folder is a link, or a file cannot be changed (:class:`StorageError`).
    sqlite3.DatabaseError
        If the file is not a beamtime database (:class:`NotABeamtimeError`).
    """
    db_path = Path(db_path)
    _require_beamtime(db_path)
    store = frames_location(db_path, zarr_store)
    report = RepairReport(str(db_path), str(store))
    locks = LockDir.open(db_path, create=True, lock=fcntl.LOCK_EX)
    try:
        conn = connect(db_path, "beamtime")
        try:
            report.interrupted = mark_interrupted(conn, locks, report)
            if not report.trim_deferred:
                trim_store(conn, store, report)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot repair {db_path}: {exc}") from exc
        finally:
            conn.close()
        locks.remove_if_empty()
    finally:
        locks.close()
    return report


def register_writer(conn: sqlite3.Connection, db_path: Path, frames: Any) -> WriterLock:
    """What a writer does when it opens a beamtime: repair, then register itself.

    Runs left open by writers that are gone are marked ``interrupted`` and (for a
    Zarr store in a folder) their arrays trimmed, as :func:`repair_beamtime` does;
    then the writer takes its lock and its ``writers`` row, so its own runs are
    known to be live until it closes. All of it with the ``.writers`` folder held
    exclusively, so a repair running meanwhile finishes first.

    Parameters
    ----------
    conn : sqlite3.Connection
        The writer's connection.
    db_path : Path
        The beamtime database.
    frames : FrameStore
        The writer's frame store (its folder, if it has one, is trimmed).

    Returns
    -------
    WriterLock
        To release when the writer closes.

    Raises
    ------
    OSError
        If the ``.writers`` folder is a link or not a folder (:class:`StorageError`).
    """
    location = getattr(frames, "_location", None)
    report = RepairReport(str(db_path), str(location))
    locks = LockDir.open(db_path, create=True, lock=fcntl.LOCK_EX)
    lock = None
    try:
        # One transaction for the marks and the writer's row, unless frames are trimmed
        # between them (after the marks commit, as repair_beamtime does).
        with transaction(conn):
            marked = mark_interrupted(conn, locks, report)
            trim = bool(marked) and location is not None and not report.trim_deferred
            if not trim:
                lock = WriterLock(conn, db_path, locks)
        if lock is None:
            trim_store(conn, location, report)
            lock = WriterLock(conn, db_path, locks)
        return lock
    except BaseException:
        if lock is not None:  # the commit failed: the row is not there, the lock goes
            lock.release(conn=None)
        raise
    finally:
        locks.close()
