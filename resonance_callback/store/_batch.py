"""The unit of work: when rows commit, and what a flush guarantees (the one account of it).

:class:`Batch` owns the writer's connection and its batch transaction; every
other layer only asks it to commit, and documents point here.

When rows commit
----------------
* Rows go into one batch transaction (a :func:`~resonance_callback._sqlite.transaction`
  block that spans calls), committed once ``commit_every`` rows are pending or the
  transaction is ``commit_interval`` seconds old (checked at every write, and by
  the writer thread when idle: ``RowWriter.commit_if_due``, so a row is durable
  within about a second even when nothing else arrives; a queued event's age
  counts from when it was handed over), and at every run and stream boundary
  (``write_run``, ``write_stream``, ``write_stop`` commit).
* Each document's rows are written in a :meth:`Batch.unit` inside it: a savepoint,
  so a document the store refuses is rolled back alone and the rest of the batch goes
  on. Rows written inside :meth:`Batch.hold` (``RowWriter.atomic``: an event with the
  frames read from its detector files) are never split by a batch commit.
* Before a commit, the frames handed to the :class:`FrameStore` are written and
  their arrays grown (:meth:`FrameStore.flush`): a committed ``image_refs`` row
  always points at a frame on disk. A commit first checks that the database and
  Zarr store are still the ones opened (:meth:`Batch.check_storage`).

What a flush guarantees
-----------------------
``RowWriter.commit`` (the spec's ``RunWriter.commit``) commits now.
``RunWriterCallback.flush`` waits until every document handed to the callback
before the call has been written (on the writer thread, or at once with
``threaded=False``: events held for batching are written first) and then commits:
when it returns, all their rows and frames are durable (``synchronous=NORMAL``:
they survive a killed process), or it raises the :class:`StorageError` that
prevented it. ``BeamtimeRouter.flush`` (``resonance-callback serve``) flushes every
open beamtime; the service acknowledges documents to their source only after it
returned. Nothing else commits: a ``stop`` drains its run (so the run is
committed when the callback returns from it), ``close`` flushes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from resonance_callback._sqlite import BUSY_TIMEOUT, transaction
from resonance_callback.errors import DocumentError, StorageError
from resonance_callback.store._frames import FrameStore

__all__ = ["REFUSED", "Batch", "insert_sql", "tune"]

#: The writer's page cache, in KiB (SQLite's default is 2 MiB). The random-uid index of
#: 100k events (~4.5 MB) fits, so inserts stop reading index pages back from the OS
#: (100k events ~1.4x faster than with 2 MiB), while memory stays flat in N (peak RSS
#: from 10k to 100k events: +3.6 MB, 1.05x; 8 MiB was 1.09x, 16 MiB 1.20x).
CACHE_KIB = 6144

#: WAL pages before an automatic checkpoint (SQLite's default is 1000). Each
#: checkpoint syncs the disk twice; with random uids every commit dirties pages all
#: over the uid index, so rarer checkpoints write each page once for many commits.
#: With 16 KiB pages the WAL may reach ~160 MB during a long run; the last connection
#: to close checkpoints it into the ``.db`` file and removes it.
WAL_AUTOCHECKPOINT = 10_000

#: What SQLite raises for a value or row the schema refuses (not the disk's fault):
#: a constraint, a value no column type takes, an int beyond 64 bits, a string that
#: is not UTF-8 (a lone surrogate in a uid or a name).
REFUSED = (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
           OverflowError, UnicodeEncodeError)


def tune(conn: sqlite3.Connection) -> None:
    """Give the writer's connection its page cache and checkpoint interval."""
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT}")


@functools.lru_cache(maxsize=64)
def insert_sql(table: str, columns: tuple[str, ...], rows: int = 1, returning: str = "") -> str:
    """``INSERT ... ON CONFLICT DO NOTHING`` of ``rows`` rows: a stored key is left alone."""
    values = ",".join(["(" + ",".join("?" * len(columns)) + ")"] * rows)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} ON CONFLICT DO NOTHING"
    return f"{sql} RETURNING {returning}" if returning else sql


def _what(exc: BaseException) -> str:
    """The message of a refused value, naming its kind when SQLite's does not."""
    if isinstance(exc, sqlite3.Error):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Batch:
    """A connection with a batch transaction; see the module documentation.

    Parameters
    ----------
    conn : sqlite3.Connection
        An autocommit connection from :func:`~resonance_callback._sqlite.connect`.
    db_path : Path
        The database, for messages.
    frames : FrameStore
        Flushed before every commit.
    commit_every : int
        Rows after which the batch commits.
    commit_interval : float
        Seconds after which the batch commits.
    """

    def __init__(self, conn: sqlite3.Connection, db_path: Path, frames: FrameStore, *,
                 commit_every: int, commit_interval: float) -> None:
        self.conn = conn
        self.db_path = db_path
        self.frames = frames
        self.commit_every = commit_every
        self.commit_interval = commit_interval
        self.pending = 0  # rows written since the last commit
        self.held = 0  # depth of hold() blocks: no batch commit inside one
        self.started = 0.0  # time.monotonic() when the batch began
        self._batch: contextlib.ExitStack | None = None
        # The files opened, by (st_dev, st_ino): a database or Zarr store deleted or
        # replaced behind the writer's back is caught at the next commit.
        # A Zarr root counts as there only with its zarr.json: the frame writers
        # re-create missing folders, and a new folder may get the old inode number.
        location = getattr(frames, "_location", None)
        self._watched = [(Path(p), marker) for p, marker in ((db_path, ""), (location, "zarr.json"))
                         if p is not None and _identity(Path(p), marker) is not None]
        self._identity = [_identity(p, marker) for p, marker in self._watched]

    @property
    def open(self) -> bool:
        """Whether a batch transaction is open."""
        return self._batch is not None

    def begin(self, since: float | None = None) -> sqlite3.Connection:
        """Open the batch transaction if none is; ``since`` backdates its age."""
        if self._batch is None:
            batch = contextlib.ExitStack()
            try:
                batch.enter_context(transaction(self.conn))
            except sqlite3.Error as exc:
                raise StorageError(f"cannot write {self.db_path}: {exc}") from exc
            self._batch = batch
            now = time.monotonic()
            self.started = now if since is None else min(now, since)
        return self.conn

    def commit(self) -> None:
        """Check the storage is still the one opened, write queued frames, commit the batch."""
        self.check_storage()
        self.frames.flush()
        batch, self._batch = self._batch, None
        self.pending = 0
        if batch is not None:
            try:
                batch.close()
            except sqlite3.Error as exc:
                raise StorageError(f"cannot commit to {self.db_path}: {exc}") from exc

    def check_storage(self) -> None:
        """Raise :class:`StorageError` if the database or Zarr store was deleted or replaced."""
        for (path, marker), known in zip(self._watched, self._identity, strict=True):
            now = _identity(path, marker)
            if now != known:
                what = "deleted" if now is None else "replaced by another file"
                self._abandon()
                raise StorageError(
                    f"{path} was {what} while the writer had it open; this writer cannot "
                    f"go on (what it committed before is in the original file)")

    def storage_problem(self) -> str | None:
        """Why the database or Zarr store opened can no longer be written to, or None.

        Deleted, replaced by another file, or on a file system that is now
        read-only. Only looks (``stat``, ``access``): safe from any thread, and
        changes nothing.
        """
        for (path, marker), known in zip(self._watched, self._identity, strict=True):
            now = _identity(path, marker)
            if now != known:
                return f"{path} was {'deleted' if now is None else 'replaced by another file'}"
            if not os.access(path, os.W_OK):
                return f"{path} is not writable"
        return None

    def _abandon(self) -> None:
        """Roll the batch back and fold the WAL into the file opened, not the one there now."""
        batch, self._batch = self._batch, None
        self.pending = 0
        with contextlib.suppress(Exception):
            if batch is not None:
                batch.__exit__(StorageError, StorageError("storage gone"), None)
        with contextlib.suppress(sqlite3.Error):
            # Empties the -wal file, which a database put at the same path would
            # otherwise take for its own (waiting at most a second for readers).
            self.conn.execute("PRAGMA busy_timeout = 1000")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")

    def due_in(self) -> float | None:
        """Seconds until the batch is due, or None when none is open."""
        if self._batch is None:
            return None
        return max(0.0, self.commit_interval - (time.monotonic() - self.started))

    def count(self, rows: int = 1) -> None:
        """Count rows written and commit if the batch is due."""
        self.pending += rows
        self.maybe_commit()

    def maybe_commit(self) -> None:
        """Commit if the batch is full or old enough, unless held."""
        if self.held or not self.pending:
            return
        if (self.pending >= self.commit_every
                or time.monotonic() - self.started >= self.commit_interval):
            self.commit()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Take no batch commit inside the block (its rows become visible together)."""
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1
        self.maybe_commit()

    @contextlib.contextmanager
    def unit(self) -> Iterator[sqlite3.Connection]:
        """One document's rows: a savepoint in the batch, rolled back alone if it fails."""
        conn = self.begin()
        try:
            with transaction(conn):
                yield conn
        except REFUSED as exc:
            raise DocumentError(f"cannot store in {self.db_path}: {_what(exc)}") from exc
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write {self.db_path}: {exc}") from exc

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """Execute in the batch; a refused row is a DocumentError, anything else a StorageError."""
        self.begin()
        try:
            return self.conn.execute(sql, params)
        except REFUSED as exc:
            raise DocumentError(f"cannot store in {self.db_path}: {_what(exc)}") from exc
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write {self.db_path}: {exc}") from exc

    def insert(self, table: str, row: dict[str, Any]) -> bool:
        """Insert ``row`` unless its key is stored; return whether it was inserted."""
        cursor = self.execute(insert_sql(table, tuple(row)), tuple(row.values()))
        return cursor.rowcount == 1


def _identity(path: Path, marker: str = "") -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of ``path``, or None if it (or ``path/marker``) is gone."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    if marker and not os.path.exists(path / marker):
        return None
    return found.st_dev, found.st_ino
