"""Read a beamtime back: ``open_beamtime(path)`` -> :class:`Beamtime` -> :class:`Run`.

Readers never disturb a writer: the database is opened read-only (an SQLite
``mode=ro`` URI with ``PRAGMA query_only``; in WAL mode readers take no lock
a writer waits on) and the Zarr store with ``mode="r"``. A reader open during
a live run sees committed rows only, and the writer stores frames before it
commits the rows that point at them, so every reference read resolves.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from resonance_callback.read._catalog import RunCatalog
from resonance_callback.read._frames import FrameReader
from resonance_callback.read._gc_pause import _collector_paused
from resonance_callback.read._mappings import RunsMapping
from resonance_callback.read._run import RejectedDocument, Run
from resonance_callback.store import (
    BeamtimeReader,
    RunFilter,
    StoredRun,
    count_runs,
    find_run,
    frame_stores,
    select_runs,
)

__all__ = ["Beamtime", "RejectedDocument", "Run", "open_beamtime"]


class Beamtime(RunsMapping):
    """A beamtime database opened for reading: a read-only mapping of uid to :class:`Run`.

    Use :func:`open_beamtime` to make one. Runs are looked up by uid or by a
    unique uid prefix (``bt["3fa2"]``), by position from the newest
    (``bt[-1]``) or by scan id (``bt[42]``), and ``in`` takes the same keys;
    :meth:`runs` filters; ``len(bt)`` counts runs; iterating (and ``keys()``)
    yields their uids newest first, ``values()`` and ``items()`` the runs.

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
        self._reader = BeamtimeReader(db_path)
        self.path = self._reader.path
        self.frames = FrameReader(frame_stores.frames_location(self.path, zarr_store))

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection. Safe to call twice."""
        self._reader.close()

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
        state = "closed" if self._reader.closed else f"{len(self)} runs"
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
        return self._reader.rows(sql, params)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Make the queries inside the block see one consistent state of the database.

        A short read transaction: a writer keeps writing meanwhile, and its
        later commits are not seen until the block ends. Nests.
        """
        with self._reader.snapshot():
            yield

    # -- runs ------------------------------------------------------------------

    def runs(
        self,
        *,
        sample: str | None = None,
        plan: str | None = None,
        exit_status: str | None = None,
        since: float | _dt.datetime | _dt.date | str | None = None,
        until: float | _dt.datetime | _dt.date | str | None = None,
        scan_id: int | None = None,
        tag: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> list[Run]:
        """Return the runs matching every filter given, newest first.

        The same filters, with the same meaning and order, as the ``runs``
        command and the master index's ``search``
        (:mod:`resonance_callback.store`'s run filter).

        Parameters
        ----------
        sample : str, optional
            Sample name; ``*``, ``?`` and ``[...]`` are wildcards
            (case-sensitive), a name without them matches exactly.
        plan : str, optional
            Plan name (``"count"``, ``"scan"``, ...), wildcards as ``sample``.
        exit_status : str, optional
            ``"success"``, ``"aborted"`` or ``"failed"`` (Bluesky's
            ``"abort"`` / ``"fail"`` are accepted too), or ``"open"`` for
            runs with no stop document yet.
        since, until : float, datetime, date or str, optional
            Runs that started at or after ``since`` and before ``until``: a
            Unix time, a datetime, a date or an ISO 8601 string (naive means
            local); a bare date as ``until`` includes that day.
        scan_id : int, optional
            The start document's ``scan_id``.
        tag : str, optional
            One of the start document's ``tags`` (wildcards as ``sample``).
        where : dict, optional
            Start-document values that must match, e.g.
            ``{"operator": "ana", "sample.formula": "SiO2"}``; a dotted key
            looks into nested dicts. A value matches an equal value or an
            element of a stored list; a string that reads as a JSON number,
            ``true``, ``false`` or ``null`` also matches that value.

        Returns
        -------
        list of Run
            Newest (latest ``time_start``) first.

        Raises
        ------
        ValueError
            For an unknown ``exit_status``, an unusable ``where`` key or a
            time that is not one (:class:`FilterError`).
        """
        filters = RunFilter(sample=sample, plan=plan, exit_status=exit_status, since=since,
                            until=until, scan_id=scan_id, tag=tag, where=where)
        with _collector_paused():
            # Each run reads its start document and sample when first asked for them:
            # listing 10,000 runs parses and copies none of them.
            found = select_runs(self._reader, filters, documents=False)
            return [self._run(stored) for stored in found]

    def search(self, query: Any) -> RunCatalog:
        """Return the runs whose metadata match a Tiled query, newest first.

        Parameters
        ----------
        query : tiled.queries query
            ``Key("start.sample") == "Si"``, ``Key("start.plan_name").in_(["scan"])``,
            ``Key("summary.timestamp") >= t0``, ``Regex``, ``Contains``,
            ``FullText`` ...: keys are dotted paths into :attr:`Run.metadata`
            (``start``, ``stop``, ``summary``).

        Returns
        -------
        RunCatalog
            A mapping of uid to :class:`Run` that searches again
            (``bt.search(q1).search(q2)``), as a Tiled container does.

        Raises
        ------
        ValueError
            For a query type that cannot be answered (:class:`FilterError`).
        """
        return self._found(query, None)

    def _found(self, query: Any, among: list[str] | None) -> RunCatalog:
        """The runs (of ``among``, else all) matching ``query``: SQL, then Python's part."""
        filters = RunFilter(queries=(query,))
        test = filters.residual(self._reader.filter_columns)
        with _collector_paused():
            found = select_runs(self._reader, filters, documents=False)
        if among is not None:
            kept = set(among)
            found = [stored for stored in found if stored.uid in kept]
        runs = {stored.uid: self._run(stored) for stored in found}
        if test is not None:
            runs = {uid: run for uid, run in runs.items() if test(run.metadata)}

        def metadata(uid: str) -> dict[str, Any]:
            return runs[uid].metadata

        return RunCatalog(list(runs), runs.__getitem__, metadata, select=self._found)

    def _run(self, stored: StoredRun) -> Run:
        return Run(self._reader, self.frames, stored)

    def __getitem__(self, key: str | int) -> Run:
        """Return the run with this uid, position, scan id or unique uid prefix.

        Parameters
        ----------
        key : str or int
            A full uid; ``-N`` (an int or a string such as ``"-1"``) counts
            from the newest run; a non-negative int, or a string of digits
            that is some run's scan id, is a scan id; else a uid prefix
            matching exactly one run.

        Returns
        -------
        Run

        Raises
        ------
        KeyError
            If no run, or more than one, matches (:class:`RunLookupError`,
            listing the candidates).
        """
        return self._run(find_run(self._reader, key))

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except (KeyError, TypeError):
            return False
        return True

    def __len__(self) -> int:
        return count_runs(self._reader)



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
