"""Units of work on an autocommit SQLite connection: ``transaction`` and ``is_busy``."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[None]:
    """Run the block as one unit of work: commit on success, roll back on error.

    Nested use inside an open transaction becomes a savepoint, so an inner
    failure undoes only the inner block.

    Parameters
    ----------
    conn : sqlite3.Connection
        A connection opened by :func:`connect` (autocommit mode).
    immediate : bool, optional
        Take the write lock at the start (``BEGIN IMMEDIATE``), so a busy
        database waits here rather than failing at the first write.

    Yields
    ------
    None
    """
    if conn.in_transaction:
        # One name for every level: SQLite resolves ROLLBACK TO and RELEASE to the
        # innermost savepoint of that name, and the statements stay in the cache.
        name = "unit_of_work"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # The block failed, or COMMIT did (a full disk); a connection closed since
        # (a writer closed after a storage error) has nothing left to roll back.
        with contextlib.suppress(sqlite3.ProgrammingError):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        raise


def is_busy(exc: sqlite3.Error) -> bool:
    """Return whether an SQLite error means another connection holds a lock.

    Parameters
    ----------
    exc : sqlite3.Error
        The error raised by an ``execute``.

    Returns
    -------
    bool
        True for SQLITE_BUSY and SQLITE_LOCKED ("database is locked"), which
        are worth retrying; False for every other error.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text
