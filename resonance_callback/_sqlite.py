"""Connections, transactions and versioned migrations for our SQLite databases.

There are two kinds of database, each with its own numbered migrations:
``beamtime`` (one per beamtime, ``store/sql/NNNN_name.sql``) and ``index`` (the
master index, ``index/sql/NNNN_name.sql``). Each kind stamps ``PRAGMA application_id`` so a file of
the wrong kind is recognised, and ``PRAGMA user_version`` holds the number of
the last migration applied. A migration and its version bump commit together.

Definitions both kinds share (the ``run_metadata`` side table that indexes start
documents: its table, its view of a document's leaves, its triggers) are written
once, in ``resonance_callback/sql/run_metadata.sql``, as named fragments. A
migration includes one with a line ``-- @include run_metadata.sql NAME``, which is
replaced by the fragment's text when the migration is read (:func:`render`), so
the SQL a database runs is exactly the SQL each migration shipped with: a file
made by an older release and a new one replay the same statements, and
``tests/store/test_schema_fragments.py`` pins every migration's rendered bytes.
We chose includes over a runner that generates the DDL from Python: the
migrations stay plain SQL files one can read and run in ``sqlite3``, each
version's file says which definition it brings, and the one definition is SQL
too (the view cannot be written in anything else).

Connections run in autocommit mode (``isolation_level=None``); units of work
are explicit :func:`transaction` blocks, which nest as savepoints.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from resonance_callback._new_database import create_from_image
from resonance_callback._sql_files import _migrations, latest_version, render
from resonance_callback._transaction import is_busy, transaction
from resonance_callback.errors import NotABeamtimeError, SchemaVersionError, StorageError

__all__ = ["APPLICATION_IDS", "connect", "is_busy", "latest_version", "migrate", "render",
           "transaction"]

#: ``PRAGMA application_id`` of each kind of database ("RCbt", "RCix").
APPLICATION_IDS = {
    "beamtime": int.from_bytes(b"RCbt", "big"),
    "index": int.from_bytes(b"RCix", "big"),
}

#: Seconds a connection waits for another writer's lock before failing.
BUSY_TIMEOUT = 60.0

#: Page size of new database files (SQLite's default is 4096). Larger pages make
#: inserting rows keyed by random uids cheaper (fewer, fuller index pages), measured
#: in the #7 benchmark; files made with another page size keep theirs.
PAGE_SIZE = 16384


def _enable_wal(conn: sqlite3.Connection) -> str:
    """Switch to WAL and return the journal mode, retrying while another process holds a lock.

    Changing the journal mode needs an exclusive lock and SQLite reports
    SQLITE_BUSY at once (without the busy handler) when another connection is
    creating the same file, so wait here, up to :data:`BUSY_TIMEOUT` seconds.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    delay = 0.005
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


def _check_kind(conn: sqlite3.Connection, path: Path, kind: str) -> int:
    """Return the file's schema version after checking it is a database of ``kind``."""
    # One read transaction, so a migration committed by another process
    # between the reads cannot show tables without the application_id.
    own = not conn.in_transaction
    try:
        if own:
            conn.execute("BEGIN")
        try:
            app_id: int = conn.execute("PRAGMA application_id").fetchone()[0]
            version: int = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()[0]
        finally:
            if own and conn.in_transaction:
                conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_CANTOPEN:
            # A WAL database in a read-only folder (no -shm can be made), say.
            raise StorageError(f"cannot open {path}: {exc}") from exc
        raise NotABeamtimeError(f"{path} is not an SQLite database ({exc})") from exc
    except sqlite3.DatabaseError as exc:
        raise NotABeamtimeError(f"{path} is not an SQLite database ({exc})") from exc
    expected = APPLICATION_IDS[kind]
    if app_id != expected and (app_id != 0 or tables):
        other = {v: k for k, v in APPLICATION_IDS.items()}.get(app_id)
        what = f"a resonance-callback {other} database" if other else "another application's"
        raise NotABeamtimeError(
            f"{path} is {what} database, not a {kind} database"
        )
    latest = latest_version(kind)
    if version > latest:
        raise SchemaVersionError(
            f"{path} has {kind} schema version {version}, newer than this "
            f"resonance-callback understands ({latest}); upgrade resonance-callback"
        )
    return version


def migrate(conn: sqlite3.Connection, kind: str, path: Path | str = "<memory>") -> int:
    """Apply every migration of ``kind`` newer than the database's version.

    Each migration runs in its own transaction together with the bump of
    ``PRAGMA user_version``, so a failure leaves the previous version intact;
    a new (empty) database gets all of them in one transaction.

    Parameters
    ----------
    conn : sqlite3.Connection
        An autocommit connection.
    kind : {"beamtime", "index"}
        Which kind of database.
    path : Path or str, optional
        Used in error messages only.

    Returns
    -------
    int
        The schema version after migrating.

    Raises
    ------
    NotABeamtimeError
        If the file is not a database of ``kind``.
    SchemaVersionError
        If the file's schema is newer than this library knows.
    """
    version = _check_kind(conn, Path(path), kind)
    pending = [(number, sql) for number, _name, sql in _migrations(kind) if number > version]
    if version == 0 and len(pending) > 1:
        # A new file: every migration in one transaction (one commit instead of one
        # each); a failure leaves it empty, as a failed first migration does.
        pending = [(pending[-1][0], "\n".join(sql for _, sql in pending))]
    for number, sql in pending:
        # executescript() commits any open transaction first, so the whole
        # migration, its version bump and its COMMIT go in one script.
        script = (
            "BEGIN IMMEDIATE;\n"
            f"{sql}\n"
            f"PRAGMA application_id = {APPLICATION_IDS[kind]};\n"
            f"PRAGMA user_version = {number};\n"
            "COMMIT;"
        )
        try:
            conn.executescript(script)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            # Another process may have migrated at the same time; re-check.
            if _check_kind(conn, Path(path), kind) >= number:
                continue
            raise
        version = number
    return version


def connect(
    path: Path | str,
    kind: str = "beamtime",
    *,
    readonly: bool = False,
    synchronous: str = "NORMAL",
) -> sqlite3.Connection:
    """Open (creating if needed) a database of ``kind`` and bring its schema up to date.

    Parameters
    ----------
    path : Path or str
        The SQLite file.
    kind : {"beamtime", "index"}, optional
        Which kind of database the file must be.
    readonly : bool, optional
        Open without the right to write; the file must exist and is not migrated.
    synchronous : str, optional
        ``PRAGMA synchronous``. ``NORMAL`` in WAL mode survives a killed process;
        ``FULL`` also survives a power cut, at a cost per commit.

    Returns
    -------
    sqlite3.Connection
        In autocommit mode, usable from any thread (one at a time).

    Raises
    ------
    StorageError
        If the directory does not exist or the file cannot be opened or created.
    NotABeamtimeError
        If the file is not a database of ``kind``.
    SchemaVersionError
        If the file was written by a newer version of the library.
    """
    path = Path(path)
    if readonly:
        if not path.is_file():
            raise StorageError(f"no {kind} database at {path}")
        uri = f"{path.resolve().as_uri()}?mode=ro"
    else:
        if not path.parent.is_dir():
            raise StorageError(f"cannot create {path}: directory {path.parent} does not exist")
        uri = path.resolve().as_uri()
        # A new file: written whole from the migrated image (see _new_database).
        create_from_image(path, kind, PAGE_SIZE, migrate,
                          sync=str(synchronous).upper() in ("FULL", "EXTRA", "2", "3"))
    try:
        conn = sqlite3.connect(
            uri, uri=True, isolation_level=None, check_same_thread=False,
            timeout=BUSY_TIMEOUT,
        )
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path}: {exc}") from exc
    try:
        if readonly:
            conn.execute("PRAGMA query_only = ON")
            version = _check_kind(conn, path, kind)
            if version == 0:
                raise NotABeamtimeError(f"{path} is empty, not a {kind} database")
        else:
            version = _check_kind(conn, path, kind)
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a no-op unless the file is new
            # Before the switch to WAL too: a new file's switch is written with the
            # rollback journal, which FULL (the default) makes pay extra syncs for.
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            mode = _enable_wal(conn)
            if mode.lower() != "wal":
                raise StorageError(f"cannot put {path} in WAL mode (got {mode!r})")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            if version < latest_version(kind):  # else up to date (a version never goes down)
                migrate(conn, kind, path)
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.OperationalError as exc:
        conn.close()
        raise StorageError(f"cannot use {path}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn
