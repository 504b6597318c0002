"""The master index's connection: opened on first use, one retried transaction per write.

The index is an SQLite file, or a PostgreSQL database named by a ``postgresql://``
URL (:mod:`._pg`). On SQLite a write meeting another writer's lock is retried
``attempts`` times; on PostgreSQL writers do not lock each other out, and a write
that meets a lost connection (a server restarted), a deadlock or a serialization
failure reconnects and is retried for up to ``busy_timeout`` seconds per attempt.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self, TypeVar

from resonance_callback import _sqlite as schema
from resonance_callback.errors import IndexLookupError, StorageError
from resonance_callback.index import _pg
from resonance_callback.index import _store as store
from resonance_callback.index._dialect import IndexConn, display, is_url

_T = TypeVar("_T")


def _absolute(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` absolute, with ``~`` expanded and symlinks resolved."""
    return Path(path).expanduser().resolve()


class _IndexConnection:
    """What every part of :class:`~resonance_callback.index.IndexWriter` shares.

    The parameters are those of ``IndexWriter``.
    """

    def __init__(
        self,
        index_db_path: str | os.PathLike[str],
        *,
        busy_timeout: float | None = None,
        attempts: int = 5,
    ) -> None:
        self._url = str(index_db_path) if is_url(index_db_path) else None
        self._path: Path | str = (display(self._url) if self._url is not None
                                  else Path(index_db_path))
        self._busy_timeout = busy_timeout
        self._attempts = max(1, attempts)
        self._conn: sqlite3.Connection | _pg.PgConnection | None = None
        self._reached = False  # connected to PostgreSQL at least once

    @property
    def path(self) -> Path | str:
        """Path or str: the index database file, or its PostgreSQL URL (password hidden)."""
        return self._path

    def __enter__(self) -> Self:
        self.ensure_schema()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection; calling it again does nothing."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def ensure_schema(self) -> None:
        """Create the index schema if it does not already exist.

        Raises
        ------
        StorageError
            If the directory does not exist or the file cannot be written.
        NotABeamtimeError
            If the file is not an index database.
        SchemaVersionError
            If the index was written by a newer resonance-callback.
        """
        self._connection()

    def _connection(self) -> IndexConn:
        if self._url is not None:
            if self._conn is not None and not (
                    isinstance(self._conn, _pg.PgConnection) and self._conn.usable):
                self.close()
            if self._conn is None:
                wait = schema.BUSY_TIMEOUT if self._busy_timeout is None else self._busy_timeout
                self._conn = _pg.connect(self._url, timeout=max(1.0, wait), lock_timeout=wait)
                self._reached = True
            return self._conn
        if self._conn is None:
            conn = schema.connect(self._path, "index")
            if self._busy_timeout is not None:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            self._conn = conn
        return self._conn

    def _write(self, work: Callable[[IndexConn], _T]) -> _T:
        """Run ``work(conn)`` in one write transaction, retrying while the index is busy."""
        if self._url is not None:
            return self._write_postgres(work)
        conn = self._connection()
        assert isinstance(conn, sqlite3.Connection)
        delay = 0.01
        for attempt in range(1, self._attempts + 1):
            try:
                with schema.transaction(conn):
                    return work(conn)
            except sqlite3.OperationalError as exc:  # transaction() rolled back
                if not schema.is_busy(exc) or attempt == self._attempts:
                    raise StorageError(f"cannot write index {self._path}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _write_postgres(self, work: Callable[[IndexConn], _T]) -> _T:
        """``_write`` on PostgreSQL: reconnect and retry what a retry can cure."""
        patience = schema.BUSY_TIMEOUT if self._busy_timeout is None else self._busy_timeout
        deadline = time.monotonic() + patience * self._attempts
        delay = 0.05
        while True:
            try:
                conn = self._connection()
                assert isinstance(conn, _pg.PgConnection)
                with conn.transaction():
                    return work(conn)
            except StorageError as exc:  # the server cannot be reached
                if not self._reached:  # never was: a wrong URL, not a restart
                    raise
                failure: BaseException = exc
            except Exception as exc:
                if not _pg.is_driver_error(exc):
                    raise
                if not _pg.is_retryable(exc):
                    raise StorageError(
                        f"cannot write index {self._path}: {_pg.one_line(exc)}") from exc
                failure = exc
                # A connection lost mid-statement may be left neither closed nor broken
                # (stuck in psycopg's pipeline mode, as executemany leaves it when the
                # server goes): the retry gets a new one.
                with contextlib.suppress(Exception):
                    self.close()
                self._conn = None
            if time.monotonic() + delay > deadline:
                raise StorageError(
                    f"cannot write index {self._path}: {_pg.one_line(failure)}") from failure
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _researcher_row(self, conn: IndexConn, researcher_id: int) -> tuple[str, str]:
        row = store.researcher(conn, researcher_id)
        if row is None:
            raise IndexLookupError(f"no researcher with id {researcher_id} in index {self._path}")
        return row

    def _check_beamtime(self, conn: IndexConn, beamtime_id: int) -> int:
        """Return the id of the beamtime's researcher, raising if it is not registered."""
        owner = store.beamtime_owner(conn, beamtime_id)
        if owner is None:
            raise IndexLookupError(f"no beamtime with id {beamtime_id} in index {self._path}")
        return owner
