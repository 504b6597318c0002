"""The ``.writers`` folder of a beamtime (:class:`LockDir`), its lock files and their tokens."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
from pathlib import Path

from resonance_callback.errors import StorageError
from resonance_callback.store._repair_report import link_refusal, printable

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
