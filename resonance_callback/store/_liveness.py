"""Which writers of a beamtime are alive: a row in ``writers`` and an flock held for life.

A writer, when it opens a beamtime, takes an exclusive :func:`fcntl.flock` on a lock
file of its own, ``{db}.writers/{token}.lock``, *then* records ``(token, pid, host,
started)`` in the ``writers`` table, and tags every run it opens with its token (a
temporary trigger on its connection, so the write path is untouched). The kernel
drops the lock when the process dies, however it dies (``kill -9`` included), so a
writer is alive exactly while its lock cannot be taken. A run with ``exit_status``
NULL whose writer is not alive (or that has no writer: made before schema version 2)
was cut off: :mod:`~resonance_callback.store._repair` marks it ``interrupted``.

flock locks belong to an open file description, not to a process, so a check from
the writer's own process still sees its lock held. They are not reliable on some
network file systems; a beamtime on one should be written by one host at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path

from resonance_callback._sqlite import transaction
from resonance_callback.errors import StorageError

__all__ = ["WriterLock", "lock_dir", "writer_alive"]


def lock_dir(db_path: Path | str) -> Path:
    """Return the folder of a beamtime's writer lock files: ``{db}.writers`` beside it."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".writers")


def writer_alive(db_path: Path | str, token: str | None) -> bool:
    """Return whether the writer ``token`` of the beamtime at ``db_path`` still holds its lock.

    Parameters
    ----------
    db_path : Path or str
        The beamtime database.
    token : str or None
        ``writers.token``; None (a run from before schema version 2) is never alive.

    Returns
    -------
    bool
        True while the writer's process holds the lock.
    """
    if not token:
        return False
    try:
        fd = os.open(lock_dir(db_path) / f"{token}.lock", os.O_RDONLY)
    except OSError:
        return False  # no lock file: the writer closed, or repair removed it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock if we took it
    return False


class WriterLock:
    """One writer's registration: its lock file held, its ``writers`` row, its run trigger.

    Parameters
    ----------
    conn : sqlite3.Connection
        The writer's connection (schema version 2 or later).
    db_path : Path
        The beamtime database, whose ``.writers`` folder holds the lock file.

    Raises
    ------
    OSError
        If the lock file cannot be created (:class:`StorageError`).
    """

    def __init__(self, conn: sqlite3.Connection, db_path: Path) -> None:
        self.token = uuid.uuid4().hex
        self.path = lock_dir(db_path) / f"{self.token}.lock"
        try:
            self.path.parent.mkdir(exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot create the writer lock {self.path}: {exc}") from exc
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            with transaction(conn):
                conn.execute("INSERT INTO writers (token, pid, host, started) VALUES (?, ?, ?, ?)",
                             (self.token, os.getpid(), socket.gethostname(), time.time()))
            # Every run this connection inserts is tagged with our token.
            conn.execute(
                "CREATE TEMP TRIGGER IF NOT EXISTS run_writer AFTER INSERT ON runs "
                f"BEGIN UPDATE runs SET writer = '{self.token}' WHERE uid = NEW.uid; END")
        except sqlite3.Error as exc:
            self.release(conn=None)
            raise StorageError(f"cannot register a writer in {db_path}: {exc}") from exc

    def release(self, conn: sqlite3.Connection | None) -> None:
        """Forget the registration (when ``conn`` is given) and drop the lock file."""
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                with transaction(conn):
                    conn.execute("DELETE FROM writers WHERE token = ?", (self.token,))
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()  # only when no other writer's lock is in it
        os.close(self._fd)
        self._fd = None
