"""A beamtime database opened read-only: the one connection every query of the read side uses.

Readers never disturb a writer: the database is opened read-only (an SQLite
``mode=ro`` URI with ``PRAGMA query_only``; in WAL mode readers take no lock
a writer waits on). The named queries of :mod:`._lookup`, :mod:`._queries`,
:mod:`._counts` and :mod:`._inspect` take a :class:`BeamtimeReader`; no module
outside ``store`` writes SQL against the beamtime schema.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from resonance_callback._sqlite import connect, transaction
from resonance_callback.errors import StorageError
from resonance_callback.store._filter import BEAMTIME_COLUMNS, FilterColumns

__all__ = ["BeamtimeReader"]

#: The schema version that brought the ``run_metadata`` table (``sql/0003_*.sql``).
_RUN_METADATA_VERSION = 3
#: The schema version that brought ``frame_spans`` (``sql/0008_*.sql``).
_FRAME_SPANS_VERSION = 8


class BeamtimeReader:
    """A read-only connection to one beamtime database, safe to share between threads.

    Parameters
    ----------
    db_path : str or PathLike
        The beamtime SQLite file; it must exist.

    Raises
    ------
    OSError
        If the file does not exist or cannot be opened (:class:`StorageError`).
    sqlite3.DatabaseError
        If it is not a beamtime database (:class:`NotABeamtimeError`) or is
        of a newer schema (:class:`SchemaVersionError`).
    """

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.path = Path(db_path).expanduser().resolve()
        self._conn: sqlite3.Connection | None = connect(self.path, "beamtime", readonly=True)
        self._lock = threading.RLock()
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        #: The columns a run filter is written against: a database of schema 2 or
        #: older opened read-only (not migrated) has no ``run_metadata`` to narrow by.
        self.filter_columns: FilterColumns = (
            BEAMTIME_COLUMNS if version >= _RUN_METADATA_VERSION
            else dataclasses.replace(BEAMTIME_COLUMNS, metadata_index=None))
        #: Whether frames are found through ``frame_spans`` and the references' own
        #: stream and seq_num (schema 8); an older file opened read-only has neither.
        self.frame_spans: bool = version >= _FRAME_SPANS_VERSION

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._conn is None

    def close(self) -> None:
        """Close the connection. Safe to call twice."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> BeamtimeReader:
        """Return the reader itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection."""
        self.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(f"beamtime {self.path} is closed")
        return self._conn

    def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run one read-only SQL statement and return all its rows.

        Parameters
        ----------
        sql : str
            A ``SELECT`` (or ``PRAGMA``) on the beamtime schema.
        params : sequence or dict, optional
            Its parameters.

        Returns
        -------
        list of tuple

        Raises
        ------
        OSError
            If the reader is closed or the database cannot be read
            (:class:`StorageError`).
        """
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"cannot read {self.path}: {exc}") from exc

    def batches(self, sql: str, params: Any = (), size: int = 16_384
                ) -> Iterator[list[tuple[Any, ...]]]:
        """Run one read-only SQL statement and yield its rows ``size`` at a time.

        For answers too large to hold as Python rows at once; the reader is held
        until the iterator is exhausted or closed (use it inside :meth:`snapshot`
        for one consistent state). Raises as :meth:`rows` does.
        """
        with self._lock:
            try:
                cursor = self._connection().execute(sql, params)
                while batch := cursor.fetchmany(size):
                    yield batch
            except sqlite3.Error as exc:
                raise StorageError(f"cannot read {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Make the queries inside the block see one consistent state of the database.

        A short read transaction (:func:`~resonance_callback._sqlite.transaction`
        with ``immediate=False``): a writer keeps writing meanwhile, and its
        later commits are not seen until the block ends. Nests.

        Raises
        ------
        OSError
            If the reader is closed or the database cannot be read
            (:class:`StorageError`).
        """
        with self._lock:
            conn = self._connection()
            if conn.in_transaction:
                yield
                return
            try:
                with transaction(conn, immediate=False):
                    yield
            except sqlite3.Error as exc:
                if self._conn is None:  # closed inside the block: nothing to end
                    return
                raise StorageError(f"cannot read {self.path}: {exc}") from exc
