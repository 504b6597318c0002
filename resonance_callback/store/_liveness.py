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
import errno
import fcntl
import os
import re
import socket
import sqlite3
import stat
import time
import uuid
from pathlib import Path

from resonance_callback._sqlite import transaction
from resonance_callback.errors import StorageError
from resonance_callback.store._repair_report import link_refusal, printable

__all__ = ["TOKEN", "LockDir", "WriterLock", "lock_dir", "token_refusal", "writer_alive"]

#: What a writer token looks like (``uuid.uuid4().hex``); nothing else is used as a name.
TOKEN = re.compile(r"[0-9a-f]{32}")

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def lock_dir(db_path: Path | str) -> Path:
    """Return the folder of a beamtime's writer lock files: ``{db}.writers`` beside it."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".writers")


def token_refusal(token: object) -> str | None:
    """None if ``token`` is a writer token; else why it is not used as a file name."""
    if isinstance(token, str) and TOKEN.fullmatch(token):
        return None
    return (f"writer token {printable(repr(token), 80)} is not one a writer makes "
            "(32 hex digits); it is never used as a file name")


class LockDir:
    """The ``.writers`` folder of a beamtime, opened without following links.

    Use :meth:`open`; every lock file is reached through the folder's descriptor.
    """

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def open(cls, db_path: Path | str, *, create: bool, lock: int | None) -> LockDir:
        """Open (and with ``create``, make) the folder and take ``lock`` on it.

        Parameters
        ----------
        db_path : Path or str
            The beamtime database.
        create : bool
            Make the folder if it is missing; else a missing folder gives a
            :class:`LockDir` with no descriptor (no writer has a lock).
        lock : int or None
            ``fcntl.LOCK_SH`` / ``LOCK_EX`` (``| LOCK_NB``), or None for no lock.

        Raises
        ------
        OSError
            If the path is a link or not a folder, or cannot be made
            (:class:`StorageError`); :class:`BlockingIOError` when ``LOCK_NB``
            cannot be granted.
        """
        path = lock_dir(db_path)
        for _ in range(1000):  # each turn lost a race with a writer removing the folder
            if create:
                try:
                    os.mkdir(path, 0o755)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise StorageError(f"cannot create the writer lock folder {path}: {exc}"
                                       ) from exc
            try:
                fd = os.open(path, _DIR_FLAGS)
            except FileNotFoundError:
                if create:
                    continue
                return cls(path, None)
            except OSError as exc:
                raise StorageError(cls._refusal(path, exc)) from exc
            if lock is not None:
                try:
                    fcntl.flock(fd, lock)
                except BaseException:
                    os.close(fd)
                    raise
            if cls._same(path, fd):
                return cls(path, fd)
            os.close(fd)  # removed (or replaced) while we waited for the lock
            if not create:
                return cls(path, None)
        raise StorageError(f"cannot lock the writer lock folder {path}: it keeps changing")

    @staticmethod
    def _refusal(path: Path, exc: OSError) -> str:  # why the folder cannot be opened
        if os.path.islink(path):
            return f"{path} {link_refusal(path)}: a beamtime's writer locks need a real folder"
        if exc.errno == errno.ENOTDIR:
            return f"{path} is not a folder: a beamtime's writer locks need a folder there"
        return f"cannot open the writer lock folder {path}: {exc}"

    @staticmethod
    def _same(path: Path, fd: int) -> bool:
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def close(self) -> None:
        """Close the folder (dropping its lock)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _entry(self, token: str) -> tuple[str, str | None]:
        """The lock file's name, and why it is refused (a link, not a regular file)."""
        name = f"{token}.lock"
        assert self.fd is not None
        st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            return name, link_refusal(self.path / name)
        if not stat.S_ISREG(st.st_mode):
            return name, "is not a regular file (a writer's lock file is one)"
        return name, None

    def probe(self, token: str | None) -> bool | str:
        """Whether writer ``token`` is alive, or why its lock file is refused (a str).

        A missing lock file or folder, or no token, is a writer that is gone.
        """
        if not token or self.fd is None:
            return False
        refused = token_refusal(token)
        if refused:
            return refused
        try:
            name, refused = self._entry(token)
            if refused:
                return f"{self.path / name} {refused}"
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self.fd)
        except FileNotFoundError:
            return False  # no lock file: the writer closed, or repair removed it
        except OSError as exc:
            return f"{self.path / f'{token}.lock'} cannot be read: {exc}"
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return f"{self.path / f'{token}.lock'} is not a regular file"
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)  # also drops the shared lock if we took it
        return False

    def forget(self, token: str) -> None:
        """Remove the lock file of writer ``token`` (a regular file in the folder only)."""
        if self.fd is None or token_refusal(token):
            return
        with contextlib.suppress(OSError):  # gone already (another repair), or refused
            name, refused = self._entry(token)
            if not refused:
                os.unlink(name, dir_fd=self.fd)

    def remove_if_empty(self) -> None:
        """Remove the folder if no lock file is in it (call while holding it exclusively)."""
        if self.fd is not None and self._same(self.path, self.fd):
            with contextlib.suppress(OSError):
                os.rmdir(self.path)


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
