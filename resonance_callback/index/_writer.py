"""The master index: one SQLite database listing every run across beamtimes and researchers.

The index is a cache over the beamtime databases, which stay the source of
truth; :func:`resonance_callback.index_rebuild.reindex` rebuilds it from them.
Its schema (``index/sql/0001_initial.sql``) has four tables:

``researchers(id, name, root_path, email, orcid, affiliation)``
    Identity is ``(name, root_path)``; ``root_path`` is absolute.
``beamtimes(id, researcher_id, label, db_path, time_start)``
    Identity is the database path. ``db_path`` is stored *relative to the
    researcher's root*, so a researcher's tree can be moved or mounted
    elsewhere: :meth:`IndexWriter.move_researcher` rewrites one row and every
    beamtime resolves under the new root.
``runs(uid, beamtime_id, plan_name, sample_name, scan_id, time_start, time_stop,``
``exit_status, num_events, metadata)``
    One summary per run. ``metadata`` is the whole start document as JSON,
    searched with SQLite's JSON functions (``where={"KEY": VALUE}``).
``run_tags(run_uid, tag)``
    The run's tags, one row each.

Several processes may write one index at once (two RunEngines and a
``reindex``). Every write is one short ``BEGIN IMMEDIATE`` transaction made of
upserts (``INSERT ... ON CONFLICT DO UPDATE``), so a retried or repeated call
neither loses nor duplicates rows. The connection waits for another writer's
lock (WAL mode, a busy timeout), and a write that still meets SQLITE_BUSY is
retried a bounded number of times before a :class:`StorageError` is raised.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from resonance_callback import _sqlite as schema
from resonance_callback import jsoncodec
from resonance_callback.errors import IndexEntryError, IndexLookupError, StorageError
from resonance_callback.index import _store as store
from resonance_callback.index._model import BeamtimeEntry, RunSummary
from resonance_callback.store import EXIT_STATUSES

__all__ = ["IndexWriter"]

_T = TypeVar("_T")


def _absolute(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` absolute, with ``~`` expanded and symlinks resolved."""
    return Path(path).expanduser().resolve()


class IndexWriter:
    """Writer for the master index database aggregating cross-beamtime metadata.

    Parameters
    ----------
    index_db_path : Path
        Path to the master index SQLite database file. Created, with its
        schema, on first use.
    busy_timeout : float or None, optional
        Seconds one attempt waits for another process's write lock; defaults
        to :data:`resonance_callback.schema.BUSY_TIMEOUT`.
    attempts : int, optional
        How many times a write meeting SQLITE_BUSY is tried before giving up.

    Notes
    -----
    The connection opens on first use (or :meth:`ensure_schema`) and closes
    with :meth:`close` or at the end of a ``with`` block; a later call opens it
    again. Each method is its own transaction. Use one writer per thread.
    """

    def __init__(
        self,
        index_db_path: str | os.PathLike[str],
        *,
        busy_timeout: float | None = None,
        attempts: int = 5,
    ) -> None:
        self._path = Path(index_db_path)
        self._busy_timeout = busy_timeout
        self._attempts = max(1, attempts)
        self._conn: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        """Path: the index database file."""
        return self._path

    def __enter__(self) -> IndexWriter:
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

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = schema.connect(self._path, "index")
            if self._busy_timeout is not None:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            self._conn = conn
        return self._conn

    def _write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work(conn)`` in one write transaction, retrying while the index is busy."""
        conn = self._connection()
        delay = 0.01
        for attempt in range(1, self._attempts + 1):
            try:
                with schema.transaction(conn):
                    return work(conn)
            except sqlite3.OperationalError as exc:
                if conn.in_transaction:  # a failed COMMIT leaves the transaction open
                    conn.execute("ROLLBACK")
                if not schema.is_busy(exc) or attempt == self._attempts:
                    raise StorageError(f"cannot write index {self._path}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- researchers -------------------------------------------------------

    def register_researcher(
        self,
        name: str,
        root_path: str | os.PathLike[str],
        *,
        email: str | None = None,
        orcid: str | None = None,
        affiliation: str | None = None,
    ) -> int:
        """Insert or retrieve a researcher row and return its id.

        Parameters
        ----------
        name : str
            Full name of the researcher.
        root_path : str
            Filesystem root under which this researcher's data lives. Stored
            absolute; beamtime paths are stored relative to it.
        email : str or None
            Contact email address.
        orcid : str or None
            ORCID identifier string.
        affiliation : str or None
            Institutional affiliation.

        Returns
        -------
        int
            Primary key of the researcher row. The same ``name`` and
            ``root_path`` always give the same id; contact details given
            again replace the stored ones, None keeps them.
        """
        root = str(_absolute(root_path))
        return self._write(
            lambda conn: store.upsert_researcher(conn, name, root, email, orcid, affiliation)
        )

    def find_researcher(self, name: str, root_path: str | os.PathLike[str] | None = None) -> int:
        """Return the id of the researcher called ``name`` (under ``root_path``, if given).

        Parameters
        ----------
        name : str
            Full name of the researcher.
        root_path : str or None, optional
            Their root; needed only when several researchers share the name.

        Returns
        -------
        int
            Primary key of the researcher row.

        Raises
        ------
        IndexLookupError
            If no researcher, or more than one, matches.
        """
        root = None if root_path is None else str(_absolute(root_path))
        rows = store.researchers_named(self._connection(), name, root)
        where = f"{name!r}" + (f" with root {root_path}" if root_path is not None else "")
        if not rows:
            raise IndexLookupError(f"no researcher {where} in index {self._path}")
        if len(rows) > 1:
            roots = ", ".join(row[1] for row in rows)
            raise IndexLookupError(
                f"several researchers {where} in index {self._path} (roots {roots}); give the root"
            )
        return rows[0][0]

    def move_researcher(self, researcher_id: int, new_root: str | os.PathLike[str]) -> int:
        """Point a researcher at a new root, after their tree was moved or mounted elsewhere.

        Beamtime paths are relative to the root, so they all resolve under
        ``new_root`` afterwards. If the same name is already registered with
        ``new_root`` (say, a RunEngine on the new machine registered it), the
        two researchers are merged into that one.

        Parameters
        ----------
        researcher_id : int
            The researcher to move.
        new_root : str or PathLike
            The root their tree now lives under.

        Returns
        -------
        int
            The id the researcher has afterwards (the other one's, after a merge).

        Raises
        ------
        IndexLookupError
            If there is no researcher ``researcher_id``.
        """
        root = str(_absolute(new_root))

        def work(conn: sqlite3.Connection) -> int:
            name = self._researcher_row(conn, researcher_id)[0]
            others = [rid for rid, _ in store.researchers_named(conn, name, root)
                      if rid != researcher_id]
            if not others:
                store.set_root(conn, researcher_id, root)
                return researcher_id
            store.merge_researchers(conn, researcher_id, others[0])
            return others[0]

        return self._write(work)

    def _researcher_row(self, conn: sqlite3.Connection, researcher_id: int) -> tuple[str, str]:
        row = store.researcher(conn, researcher_id)
        if row is None:
            raise IndexLookupError(f"no researcher with id {researcher_id} in index {self._path}")
        return row

    # -- beamtimes ---------------------------------------------------------

    def register_beamtime(
        self,
        researcher_id: int,
        label: str,
        db_path: str | os.PathLike[str],
        *,
        time_start: float | None = None,
    ) -> int:
        """Insert or retrieve a beamtime row and return its id.

        Parameters
        ----------
        researcher_id : int
            Foreign key into the ``researchers`` table.
        label : str
            Human-readable beamtime label, e.g. "2026-03-05". Registering the
            same database again replaces the label.
        db_path : str
            Path to the per-beamtime SQLite file; it must lie under the
            researcher's root and is stored relative to it.
        time_start : float or None
            Unix timestamp for the start of the beamtime session. The earliest
            time given is kept.

        Returns
        -------
        int
            Primary key of the beamtime row; the same database always gives
            the same id.

        Raises
        ------
        IndexLookupError
            If there is no researcher ``researcher_id``.
        IndexEntryError
            If ``db_path`` is not under the researcher's root.
        """
        target = _absolute(db_path)

        def work(conn: sqlite3.Connection) -> int:
            name, root = self._researcher_row(conn, researcher_id)
            try:
                relative = target.relative_to(root).as_posix()
            except ValueError:
                raise IndexEntryError(
                    f"beamtime database {target} is not under {root}, the root of researcher "
                    f"{name!r}; the index stores beamtime paths relative to that root"
                ) from None
            return store.upsert_beamtime(conn, researcher_id, label, relative, time_start)

        return self._write(work)

    def beamtimes(self) -> list[BeamtimeEntry]:
        """Return every registered beamtime, in registration order.

        Returns
        -------
        list of BeamtimeEntry
            Each with its researcher and resolved ``db_path``.
        """
        return store.list_beamtimes(self._connection())

    def find_beamtime(self, db_path: str | os.PathLike[str]) -> BeamtimeEntry:
        """Return the registered beamtime whose database is ``db_path``.

        Parameters
        ----------
        db_path : str or PathLike
            The beamtime database, as it resolves now.

        Returns
        -------
        BeamtimeEntry
            The beamtime (the first registered, should two researchers' roots
            both contain it).

        Raises
        ------
        IndexLookupError
            If no registered beamtime resolves to ``db_path``.
        """
        target = _absolute(db_path)
        for entry in self.beamtimes():
            if entry.db_path == target:
                return entry
        raise IndexLookupError(f"beamtime database {target} is not registered in {self._path}")

    def remove_beamtime(self, beamtime: int | str | os.PathLike[str]) -> int:
        """Remove a beamtime and every run indexed from it.

        Parameters
        ----------
        beamtime : int, str or PathLike
            The beamtime's id, or the path of its database.

        Returns
        -------
        int
            The number of runs removed from the index.

        Raises
        ------
        IndexLookupError
            If no such beamtime is registered.
        """
        if isinstance(beamtime, int) and not isinstance(beamtime, bool):
            beamtime_id = beamtime
        else:
            beamtime_id = self.find_beamtime(beamtime).id

        def work(conn: sqlite3.Connection) -> int:
            self._check_beamtime(conn, beamtime_id)
            return store.delete_beamtime(conn, beamtime_id)

        return self._write(work)

    # -- runs --------------------------------------------------------------

    def index_run(
        self,
        uid: str,
        researcher_id: int,
        beamtime_id: int,
        plan_name: str,
        *,
        sample_name: str | None = None,
        time_start: float | None = None,
        tags: list[str] | None = None,
        scan_id: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert or update a run summary row in the master index.

        Parameters
        ----------
        uid : str
            Hex UUID of the run, matching the per-beamtime ``runs.uid``.
        researcher_id : int
            Foreign key into the ``researchers`` table; must own the beamtime.
        beamtime_id : int
            Foreign key into the ``beamtimes`` table.
        plan_name : str
            Name of the scan plan.
        sample_name : str or None
            Sample name denormalized from the per-beamtime database.
        time_start : float or None
            Unix timestamp for the start of the run.
        tags : list[str] or None
            Arbitrary string tags for filtering; replace the run's tags.
        scan_id : int or None
            The start document's ``scan_id``.
        metadata : Mapping or None
            The start document (or any metadata to search with ``where``).

        Raises
        ------
        IndexLookupError
            If the beamtime is not registered.
        IndexEntryError
            If the beamtime belongs to another researcher.

        Notes
        -----
        Indexing a run again updates it. The run moves to ``beamtime_id``
        and takes ``plan_name``; a keyword left at None keeps the stored value.
        The end of the run is recorded by :meth:`finish_run`.
        """

        def work(conn: sqlite3.Connection) -> None:
            self._check_owner(conn, researcher_id, beamtime_id)
            store.upsert_run_start(
                conn, uid, beamtime_id, plan_name, sample_name=sample_name, scan_id=scan_id,
                time_start=time_start, tags=tags,
                metadata=None if metadata is None else jsoncodec.dumps(metadata),
            )

        self._write(work)

    def finish_run(
        self,
        uid: str,
        *,
        time_stop: float,
        exit_status: str,
        num_events: Mapping[str, int],
    ) -> None:
        """Record the end of an indexed run.

        Parameters
        ----------
        uid : str
            Hex UUID of the run.
        time_stop : float
            Unix timestamp of the stop document.
        exit_status : str
            "success", "aborted" or "failed".
        num_events : dict[str, int]
            Number of events stored per stream name.

        Raises
        ------
        IndexEntryError
            If ``exit_status`` is not one of the three values.
        IndexLookupError
            If the run is not in the index (its start was never indexed);
            ``reindex`` brings it in from the beamtime database.
        """
        self._check_exit_status(uid, exit_status)

        def work(conn: sqlite3.Connection) -> None:
            self._update_stop(conn, uid, time_stop, exit_status, num_events)

        self._write(work)

    def record_run(self, beamtime_id: int, summary: RunSummary) -> None:
        """Write a whole run summary (start and, if stopped, end) in one transaction.

        Parameters
        ----------
        beamtime_id : int
            The beamtime the run is stored in.
        summary : RunSummary
            The run. An open summary (no ``time_stop``) leaves any recorded
            end in place, so a stale copy never reopens a finished run.

        Raises
        ------
        IndexLookupError
            If the beamtime is not registered.
        IndexEntryError
            If the summary's exit status is not one of the three values.
        """
        self.sync_beamtime(beamtime_id, [summary], remove_missing=False)

    def sync_beamtime(
        self, beamtime_id: int, summaries: list[RunSummary], *, remove_missing: bool = True
    ) -> tuple[int, int]:
        """Make the index's runs of one beamtime match ``summaries``, in one transaction.

        Parameters
        ----------
        beamtime_id : int
            The beamtime the runs are stored in.
        summaries : list of RunSummary
            Every run of that beamtime (as read from its database).
        remove_missing : bool, optional
            Also delete the index rows of this beamtime's runs that are not
            in ``summaries``.

        Returns
        -------
        tuple of int
            Runs written, runs removed.

        Raises
        ------
        IndexLookupError
            If the beamtime is not registered.
        IndexEntryError
            If a summary's exit status is not one of the three values.
        """
        for summary in summaries:
            if summary.time_stop is not None:
                self._check_exit_status(summary.uid, summary.exit_status)

        def work(conn: sqlite3.Connection) -> tuple[int, int]:
            self._check_beamtime(conn, beamtime_id)
            for s in summaries:
                store.upsert_run_start(
                    conn, s.uid, beamtime_id, s.plan_name, sample_name=s.sample_name,
                    scan_id=s.scan_id, time_start=s.time_start, tags=s.tags,
                    metadata=jsoncodec.dumps(s.metadata),
                )
                if s.time_stop is not None:
                    self._update_stop(conn, s.uid, s.time_stop, s.exit_status, s.num_events)
            removed = 0
            if remove_missing:
                removed = store.delete_runs_not_in(conn, beamtime_id, [s.uid for s in summaries])
            return len(summaries), removed

        return self._write(work)

    def _check_beamtime(self, conn: sqlite3.Connection, beamtime_id: int) -> int:
        """Return the id of the beamtime's researcher, raising if it is not registered."""
        owner = store.beamtime_owner(conn, beamtime_id)
        if owner is None:
            raise IndexLookupError(f"no beamtime with id {beamtime_id} in index {self._path}")
        return owner

    def _check_owner(self, conn: sqlite3.Connection, researcher_id: int, beamtime_id: int) -> None:
        owner = self._check_beamtime(conn, beamtime_id)
        if owner != researcher_id:
            raise IndexEntryError(
                f"beamtime {beamtime_id} belongs to researcher {owner}, not {researcher_id} "
                f"(index {self._path})"
            )

    def _check_exit_status(self, uid: str, exit_status: str | None) -> None:
        if exit_status not in EXIT_STATUSES:
            raise IndexEntryError(
                f"run {uid}: exit status {exit_status!r} is not one of {', '.join(EXIT_STATUSES)}"
            )

    def _update_stop(
        self,
        conn: sqlite3.Connection,
        uid: str,
        time_stop: float,
        exit_status: str | None,
        num_events: Mapping[str, int],
    ) -> None:
        if not store.update_run_stop(conn, uid, time_stop, exit_status, num_events):
            raise IndexLookupError(
                f"run {uid} is not in index {self._path}; index its start first, or run "
                f"`resonance-callback reindex {self._path}`"
            )
