"""The master index on PostgreSQL: connect, migrate, and a connection the index's SQL runs on.

``IndexWriter("postgresql://host/db")`` (and every place an index path is
accepted) keeps the index in a PostgreSQL database, with the schema of the
SQLite index in PostgreSQL's dialect: numbered migrations in
``index/sql/postgres/NNNN_*.sql``, the same numbers as the SQLite index's
(one number names one schema), applied by the first writer under an advisory
lock, each with the bump of the version in the table ``resonance_index``
(``application = 'index'``, ``version``). A database holding other tables
but not that one is refused (:class:`NotABeamtimeError`), as is one written by
a newer release (:class:`SchemaVersionError`).

The driver is psycopg 3 (``pip install 'resonance-callback[postgres]'``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from importlib import resources
from typing import TYPE_CHECKING, Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import (
    NotABeamtimeError,
    SchemaVersionError,
    StorageError,
)
from resonance_callback.index._dialect import Rows, display, to_postgres

if TYPE_CHECKING:
    import psycopg

__all__ = ["PgConnection", "connect", "is_driver_error", "is_retryable", "latest_version",
           "one_line", "reading"]

#: The advisory lock migrations hold ("RCix", the SQLite index's application_id).
_LOCK = int.from_bytes(b"RCix", "big")

_FILE = re.compile(r"^(\d{4})_\w+\.sql$")


def _psycopg() -> Any:
    with needs_extra("postgres", "psycopg[binary]", "an index on PostgreSQL"):
        import psycopg
    return psycopg


@functools.cache
def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("resonance_callback.index") / "sql" / "postgres"
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_version() -> int:
    """The schema version of an index on PostgreSQL made by this release."""
    return _migrations()[-1][0]


def one_line(exc: BaseException) -> str:
    """A driver's error message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def is_driver_error(exc: BaseException) -> bool:
    """True for an error psycopg raised."""
    return isinstance(exc, _psycopg().Error)


def is_retryable(exc: BaseException) -> bool:
    """True for what a retry can cure: a lost connection, a deadlock, a serialization failure."""
    psycopg = _psycopg()
    return isinstance(exc, psycopg.OperationalError)


def _text(value: Any) -> Any:
    """A parameter PostgreSQL can store: its text holds no NUL, so a NUL becomes U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, tuple | list):
        return type(value)(_text(v) for v in value)
    if isinstance(value, dict):
        return {k: _text(v) for k, v in value.items()}
    return value


class PgConnection:
    """A psycopg connection in autocommit mode, taking the index's SQLite-spelled statements.

    PostgreSQL's text holds no NUL character: a NUL in a parameter (a sample
    name, a tag) is stored as U+FFFD, where SQLite stores it as it is.

    Parameters
    ----------
    conn : psycopg.Connection
        An open connection in autocommit mode.
    where : str
        The index as messages name it (password hidden).
    """

    def __init__(self, conn: psycopg.Connection[Any], where: str) -> None:
        self._conn = conn
        self.where = where

    def execute(self, sql: str, parameters: Any = (), /) -> Rows:
        """Run one statement (``?`` / ``:name`` placeholders) and return its cursor."""
        cursor: Rows = self._conn.execute(to_postgres(sql), _text(parameters) or None)
        return cursor

    def executemany(self, sql: str, parameters: Any, /) -> Rows:
        """Run one statement for each set of parameters."""
        cursor = self._conn.cursor()
        cursor.executemany(to_postgres(sql), [_text(p) for p in parameters])
        rows: Rows = cursor
        return rows

    def copy_rows(self, table: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]
                  ) -> None:
        """Write ``rows`` into ``table`` with ``COPY`` (bulk loads: benchmarks, tools)."""
        with self._conn.cursor().copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(_text(row))

    def batches(self, sql: str, parameters: Any, size: int) -> Iterator[list[Any]]:
        """The rows of one query, ``size`` at a time, through a server-side cursor."""
        with self._conn.transaction(), self._conn.cursor(name="rc_batches") as cursor:
            cursor.execute(to_postgres(sql), _text(parameters) or None)
            while batch := cursor.fetchmany(size):
                yield batch

    def transaction(self) -> AbstractContextManager[Any]:
        """One transaction: committed at the end of the block, rolled back on an exception."""
        return self._conn.transaction()

    @property
    def usable(self) -> bool:
        """False once the connection is closed or lost."""
        return not (self._conn.closed or self._conn.broken)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def _version(conn: psycopg.Connection[Any], where: str) -> int:
    """The index's schema version (0: an empty database), after checking what it holds."""
    found = conn.execute(
        "SELECT to_regclass('resonance_index') IS NOT NULL, "
        "EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema())").fetchone()
    ours, theirs = found if found is not None else (False, False)
    if not ours:
        if theirs:
            raise NotABeamtimeError(
                f"{where} holds another application's tables, not a resonance-callback index")
        return 0
    row = conn.execute("SELECT application, version FROM resonance_index").fetchone()
    if row is None or row[0] != "index":
        raise NotABeamtimeError(f"{where} is not a resonance-callback index database")
    version = int(row[1])
    if version > latest_version():
        raise SchemaVersionError(
            f"{where} has index schema version {version}, newer than this resonance-callback "
            f"understands ({latest_version()}); upgrade resonance-callback")
    return version


def _migrate(conn: psycopg.Connection[Any], where: str) -> None:
    if _version(conn, where) == latest_version():
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))  # one migrator at a time
        version = _version(conn, where)
        if version == 0:
            conn.execute("CREATE TABLE resonance_index "
                         "(application text NOT NULL, version integer NOT NULL)")
            conn.execute("INSERT INTO resonance_index VALUES ('index', 0)")
        for number, sql in _migrations():
            if number > version:
                conn.execute(sql)
                conn.execute("UPDATE resonance_index SET version = %s", (number,))


_idle: dict[str, PgConnection] = {}
_idle_lock = threading.Lock()


@atexit.register
def _close_idle() -> None:
    with _idle_lock:
        kept = list(_idle.values())
        _idle.clear()
    for conn in kept:
        conn.close()


@contextlib.contextmanager
def reading(url: str) -> Iterator[PgConnection]:
    """A connection to search the index at ``url`` with (one idle one is kept per URL).

    A search is one statement, so connecting (a round trip, authentication, the
    schema check) would cost more than it; the connection is handed back after use
    and kept for the next search, unless one is kept already or it was lost.

    Raises
    ------
    StorageError, NotABeamtimeError
        As :func:`connect` with ``readonly``.
    """
    with _idle_lock:
        conn = _idle.pop(url, None)
    if conn is not None and not conn.usable:
        conn.close()
        conn = None
    if conn is None:
        conn = connect(url, readonly=True)
    try:
        yield conn
    except BaseException:
        conn.close()
        raise
    with _idle_lock:
        if conn.usable and url not in _idle:
            _idle[url] = conn
            return
    conn.close()


def connect(url: str, *, readonly: bool = False, timeout: float = 10.0,
            lock_timeout: float | None = None) -> PgConnection:
    """Open the index at ``url`` and, unless ``readonly``, bring its schema up to date.

    Parameters
    ----------
    url : str
        A ``postgresql://`` URL (libpq's; a password may come from ``PGPASSWORD``
        or ``~/.pgpass``).
    readonly : bool, optional
        Do not migrate; the database must hold an index.
    timeout : float, optional
        Seconds to wait for the server to accept the connection.
    lock_timeout : float or None, optional
        Seconds a statement waits for another transaction's lock before failing
        (a retryable error); None waits as long as it takes.

    Raises
    ------
    StorageError
        If the server cannot be reached or refuses the connection.
    NotABeamtimeError
        If the database holds something else, or (``readonly``) nothing.
    SchemaVersionError
        If the index was written by a newer resonance-callback.
    """
    psycopg = _psycopg()
    where = display(url)
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(timeout)))
    except psycopg.Error as exc:
        raise StorageError(f"cannot open index {where}: {one_line(exc)}") from exc
    try:
        if lock_timeout is not None:
            conn.execute(f"SET lock_timeout = {max(1, round(lock_timeout * 1000))}")
        if readonly:
            if _version(conn, where) == 0:
                raise NotABeamtimeError(f"{where} is empty, not an index database")
        else:
            _migrate(conn, where)
    except psycopg.Error as exc:
        conn.close()
        raise StorageError(f"cannot use index {where}: {one_line(exc)}") from exc
    except BaseException:
        conn.close()
        raise
    return PgConnection(conn, where)
