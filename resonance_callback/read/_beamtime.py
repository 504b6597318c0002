"""Read a beamtime back: ``open_beamtime(path)`` -> :class:`Beamtime` -> :class:`Run`.

Readers never disturb a writer: the database is opened read-only (an SQLite
``mode=ro`` URI with ``PRAGMA query_only``; in WAL mode readers take no lock
a writer waits on) and the Zarr store with ``mode="r"``. A reader open during
a live run sees committed rows only, and the writer stores frames before it
commits the rows that point at them, so every reference read resolves.

Example
-------
>>> with open_beamtime("beamtime.db") as bt:  # doctest: +SKIP
...     run = bt["3fa2"]
...     df = run.table()
...     frames = run.images("direct_img_img")
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from resonance_callback._sqlite import connect
from resonance_callback.errors import RunLookupError, StorageError
from resonance_callback.read._frames import FrameReader
from resonance_callback.read._run import RUN_COLUMNS, RejectedDocument, Run
from resonance_callback.store import run_filter

__all__ = ["Beamtime", "RejectedDocument", "Run", "open_beamtime"]

_RUN_QUERY = f"SELECT {RUN_COLUMNS} FROM runs r LEFT JOIN samples s ON s.id = r.sample_id"
_NEWEST_FIRST = "ORDER BY r.time_start DESC, r.rowid DESC"


class Beamtime:
    """A beamtime database opened for reading.

    Use :func:`open_beamtime` to make one. Runs are looked up by uid or by a
    unique uid prefix (``bt["3fa2"]``), by position from the newest
    (``bt[-1]``) or by scan id (``bt[42]``); :meth:`runs` filters; ``len(bt)``
    counts runs and iterating yields them newest first.

    Parameters
    ----------
    db_path : Path or str
        The beamtime SQLite file; it must exist.
    zarr_store : path or zarr store, optional
        Where the frames are; default ``{db_path.stem}.zarr/`` beside the file.

    Raises
    ------
    OSError
        If the file does not exist or cannot be opened (:class:`StorageError`).
    sqlite3.DatabaseError
        If it is not a beamtime database (:class:`NotABeamtimeError`) or is
        of a newer schema (:class:`SchemaVersionError`).
    """

    def __init__(self, db_path: Path | str, *, zarr_store: Any = None) -> None:
        self.path = Path(db_path).expanduser().resolve()
        self._conn: sqlite3.Connection | None = connect(self.path, "beamtime", readonly=True)
        self._lock = threading.RLock()
        location = zarr_store if zarr_store is not None else self.path.with_name(
            f"{self.path.stem}.zarr")
        self.frames = FrameReader(location)

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection. Safe to call twice."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Beamtime:
        """Return the beamtime itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection."""
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else f"{len(self)} runs"
        return f"<Beamtime {self.path} ({state})>"

    # -- queries ---------------------------------------------------------------

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run one read-only SQL query and return all its rows.

        Parameters
        ----------
        sql : str
            A ``SELECT`` on the schema contract's tables.
        params : sequence or dict, optional
            Its parameters.

        Returns
        -------
        list of tuple
            The rows.

        Raises
        ------
        OSError
            If the beamtime is closed or the database cannot be read
            (:class:`StorageError`).
        """
        with self._lock:
            if self._conn is None:
                raise StorageError(f"beamtime {self.path} is closed")
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"cannot read {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Make the queries inside the block see one consistent state of the database.

        A short read transaction: a writer keeps writing meanwhile, and its
        later commits are not seen until the block ends. Nests.
        """
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StorageError(f"beamtime {self.path} is closed")
            if conn.in_transaction:
                yield
                return
            conn.execute("BEGIN")
            try:
                yield
            finally:
                if self._conn is not None and conn.in_transaction:
                    conn.execute("COMMIT")

    # -- runs ------------------------------------------------------------------

    def runs(
        self,
        *,
        sample: str | None = None,
        plan: str | None = None,
        exit_status: str | None = None,
        since: float | _dt.datetime | str | None = None,
        until: float | _dt.datetime | str | None = None,
        scan_id: int | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[Run]:
        """Return the runs matching every filter given, newest first.

        Parameters
        ----------
        sample : str, optional
            Sample name, exactly.
        plan : str, optional
            Plan name (``"count"``, ``"scan"``, ...).
        exit_status : str, optional
            ``"success"``, ``"aborted"`` or ``"failed"`` (Bluesky's
            ``"abort"`` / ``"fail"`` are accepted too), or ``"open"`` for
            runs with no stop document yet.
        since, until : float, datetime or str, optional
            Runs that started at or after ``since`` and before ``until``: a
            Unix time, a datetime or an ISO 8601 string (naive means local).
        scan_id : int, optional
            The start document's ``scan_id``.
        where : dict, optional
            Start-document values that must match exactly, e.g.
            ``{"operator": "ana", "sample.formula": "SiO2"}``; a dotted key
            looks into nested dicts. Matched in SQL with ``json_extract``.

        Returns
        -------
        list of Run
            Newest (latest ``time_start``) first.

        Raises
        ------
        ValueError
            For an unknown ``exit_status`` or an unusable ``where`` key.
        """
        clause, params = run_filter(sample=sample, plan=plan, exit_status=exit_status,
                                    since=since, until=until, scan_id=scan_id, where=where)
        rows = self.query(f"{_RUN_QUERY}{clause} {_NEWEST_FIRST}", params)
        return [Run(self, row) for row in rows]

    def __getitem__(self, key: str | int) -> Run:
        """Return the run with this uid, unique uid prefix, position or scan id.

        Parameters
        ----------
        key : str or int
            A full uid or a prefix matching exactly one run; a negative int
            counts from the newest run (``-1``); a non-negative int is a scan id.

        Returns
        -------
        Run

        Raises
        ------
        KeyError
            If no run, or more than one, matches (:class:`RunLookupError`,
            listing the candidates).
        """
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise TypeError(f"look runs up by uid, uid prefix or int, not {key!r}")
        if isinstance(key, int):
            if key < 0:
                rows = self.query(f"{_RUN_QUERY} {_NEWEST_FIRST} LIMIT 1 OFFSET ?", (-key - 1,))
                if not rows:
                    raise RunLookupError(f"{self.path} holds {len(self)} runs; no run {key}")
                return Run(self, rows[0])
            rows = self.query(f"{_RUN_QUERY} WHERE r.scan_id = ? {_NEWEST_FIRST} LIMIT 21",
                              (key,))
            what = f"scan_id {key}"
        else:
            if not key:
                raise RunLookupError(f"an empty uid matches every run in {self.path}")
            rows = self.query(f"{_RUN_QUERY} WHERE r.uid = ?", (key,))
            if not rows:
                rows = self.query(
                    f"{_RUN_QUERY} WHERE r.uid >= ? AND r.uid < ? {_NEWEST_FIRST} LIMIT 21",
                    (key, key + "\U0010ffff"))
            what = f"uid {key!r}"
        if len(rows) == 1:
            return Run(self, rows[0])
        if not rows:
            raise RunLookupError(f"no run matches {what} in {self.path}")
        candidates = [Run(self, row) for row in rows]
        listed = ", ".join(f"{r.uid} (scan {r.scan_id}, {r.plan_name})" for r in candidates[:20])
        more = " and more" if len(rows) > 20 else ""
        raise RunLookupError(f"{what} is ambiguous in {self.path}: it matches {listed}{more}")

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except (RunLookupError, TypeError):
            return False
        return True

    def __len__(self) -> int:
        return int(self.query("SELECT count(*) FROM runs")[0][0])

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs())


def open_beamtime(db_path: Path | str, *, zarr_store: Any = None) -> Beamtime:
    """Open a beamtime database read-only.

    Parameters
    ----------
    db_path : Path or str
        The beamtime SQLite file.
    zarr_store : path or zarr store, optional
        Where the frames are; default ``{db_path.stem}.zarr/`` beside the file.

    Returns
    -------
    Beamtime
        Also a context manager that closes it.

    Raises
    ------
    OSError
        If the file does not exist or cannot be opened (:class:`StorageError`).
    sqlite3.DatabaseError
        If it is not a beamtime database (:class:`NotABeamtimeError`).

    Examples
    --------
    >>> with open_beamtime("beamtime.db") as bt:  # doctest: +SKIP
    ...     for run in bt.runs(plan="scan", exit_status="success"):
    ...         print(run.uid, run.table()["det"].max())
    """
    return Beamtime(db_path, zarr_store=zarr_store)
