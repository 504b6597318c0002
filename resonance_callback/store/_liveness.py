"""Which writers of a beamtime are alive: a row in ``writers`` and an flock held for life.

A writer, when it opens a beamtime, takes an exclusive :func:`fcntl.flock` on a lock
file of its own, ``{db}.writers/{token}.lock``, *then* records ``(token, pid, host,
started)`` in the ``writers`` table, and tags every run it opens with its token (a
temporary trigger on its connection, so the write path is untouched). The kernel
drops the lock when the process dies, however it dies (``kill -9`` included), so a
writer is alive exactly while its lock cannot be taken. A run with ``exit_status``
NULL whose writer is not alive (or that has no writer: made before schema version 2)
was cut off: :mod:`~resonance_callback.store._repair` marks it ``interrupted``.

The ``.writers`` folder is itself locked (:class:`LockDir`): shared while a writer
creates its lock file in it, exclusive while ``repair`` (or a writer opening, which
repairs first) works, and exclusive (without waiting) for the last writer to remove
it. So two repairs never run at once on one beamtime, and a lock file is never made
in a folder being removed. Nothing here follows a link: the folder is opened with
``O_NOFOLLOW`` (a link there is refused), lock files are reached only through it by
their names, and a token is used as a name only if it is one a writer makes
(:data:`TOKEN`, 32 hex digits).

flock locks belong to an open file description, not to a process (a check from the
writer's own process sees its lock held); on a network file system they may not hold.
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
from resonance_callback.store._lockdir import TOKEN, LockDir, lock_dir, token_refusal

__all__ = ["TOKEN", "LockDir", "WriterLock", "lock_dir", "token_refusal", "writer_alive"]


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
        True while the writer's process holds the lock; False also for a refused
        token or lock file (never followed: see :meth:`LockDir.probe`).
    """
    if not token:
        return False
    try:
        locks = LockDir.open(db_path, create=False, lock=None)
    except OSError:
        return False
    try:
        return locks.probe(token) is True
    finally:
        locks.close()


class WriterLock:
    """One writer's registration: its lock file held, its ``writers`` row, its run trigger.

    Parameters
    ----------
    conn : sqlite3.Connection
        The writer's connection (schema version 2 or later).
    db_path : Path
        The beamtime database, whose ``.writers`` folder holds the lock file.
    locks : LockDir, optional
        The folder, already open and locked by the caller; else it is opened here
        (and locked shared while the lock file is made).

    Raises
    ------
    OSError
        If the lock file cannot be created, or the folder is a link
        (:class:`StorageError`).
    """

    def __init__(self, conn: sqlite3.Connection, db_path: Path,
                 locks: LockDir | None = None) -> None:
        self.token = uuid.uuid4().hex
        self.db_path = db_path
        self.path = lock_dir(db_path) / f"{self.token}.lock"
        own = locks is None
        folder = LockDir.open(db_path, create=True, lock=fcntl.LOCK_SH) if own else locks
        assert folder is not None and folder.fd is not None
        try:
            self._fd: int | None = os.open(
                f"{self.token}.lock", os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                | os.O_CLOEXEC, 0o644, dir_fd=folder.fd)
        except OSError as exc:
            raise StorageError(f"cannot create the writer lock {self.path}: {exc}") from exc
        finally:
            if own:
                folder.close()
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
        try:
            # Exclusive without waiting: a repair or a writer opening holds the folder,
            # which then stays (the next writer to close removes it).
            folder = LockDir.open(self.db_path, create=False, lock=fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            with contextlib.suppress(OSError):
                folder = LockDir.open(self.db_path, create=False, lock=None)
                folder.forget(self.token)
                folder.close()
        else:
            folder.forget(self.token)
            folder.remove_if_empty()
            folder.close()
        os.close(self._fd)
        self._fd = None
