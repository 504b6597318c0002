"""The master index searched with Tiled's queries: :class:`IndexCatalog`.

``IndexCatalog("index.db").search(Key("start.sample") == "PS-1")`` keeps the
runs whose metadata match, across every registered beamtime, and searches
again, as a Tiled container does. The metadata are those the index keeps,
laid out as a beamtime's runs lay them out (:attr:`Run.metadata
<resonance_callback.read.Run.metadata>`): ``start`` (the whole start
document), ``stop`` (``exit_status``, ``time``, ``num_events``; None while
open) and ``summary`` (``uid``, ``scan_id``, ``plan_name``, ``sample``,
``timestamp``, ``exit_status``, ``duration``, ``stream_names``, plus
``researcher`` and ``beamtime``). Queries mean what they mean for
``bt.search``: the store's one query engine translates them into SQL over the
index's runs (:class:`~resonance_callback.store.RunFilter` ``queries``), and
Python tests what SQL cannot say (``summary`` keys, ``Regex``, ...).

The catalog is a view, read on request: making one (or a search of one) reads
no run; ``catalog[uid]`` and :meth:`~IndexCatalog.metadata_of` are one
indexed single-row query, ``len`` a ``COUNT``, iteration and
:meth:`~IndexCatalog.uids` read the uids a batch or a page at a time, newest
first, so a catalog over a million runs never holds every start document.
Searches stack: each adds its query to the filter the SQL reads with, and the
rows read are tested in Python for what SQL leaves over.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.index import _catalog_rows as rows
from resonance_callback.index._search import INDEX_COLUMNS, IndexedRun, indexed_run
from resonance_callback.index._search import RUN_SELECT as RUN_SELECT  # the rows' one SELECT
from resonance_callback.store import RunFilter

__all__ = ["IndexCatalog"]


def _metadata(run: IndexedRun, start: dict[str, Any]) -> dict[str, Any]:
    stopped = run.exit_status is not None
    stop = ({"exit_status": run.exit_status, "time": run.time_stop,
             "num_events": dict(run.num_events)} if stopped else None)
    duration = (run.time_stop - run.time_start
                if run.time_stop is not None and run.time_start is not None else None)
    summary = {"uid": run.uid, "scan_id": run.scan_id, "plan_name": run.plan_name,
               "sample": run.sample_name, "timestamp": run.time_start,
               "exit_status": run.exit_status, "duration": duration,
               "stream_names": sorted(run.num_events), "researcher": run.researcher,
               "beamtime": run.beamtime}
    return {"start": start, "stop": stop, "summary": summary}


def _entry(row: tuple[Any, ...]) -> tuple[IndexedRun, dict[str, Any]]:
    run = indexed_run(row)
    return run, _metadata(run, jsoncodec.loads(row[13]) or {})


class IndexCatalog(Mapping[str, IndexedRun]):
    """The runs of a master index, by uid, newest first, searchable with Tiled's queries.

    A view of the index, read on request (see the module): it sees runs
    indexed after it was made.

    Parameters
    ----------
    index_path : str or PathLike
        The master index database, or its ``postgresql://`` URL. Opened (and
        closed) when the catalog is made, to check it is an index; no run is
        read then.

    Raises
    ------
    OSError
        If there is no index at ``index_path`` (:class:`StorageError`).
    sqlite3.DatabaseError
        If the file is not an index database (:class:`NotABeamtimeError`).
    """

    def __init__(self, index_path: str | os.PathLike[str], *,
                 _filters: RunFilter | None = None) -> None:
        self.index_path = os.fspath(index_path)
        if _filters is None:
            rows.check(self.index_path)
            _filters = RunFilter()
        self._query = rows.Query(self.index_path, _filters)
        self._test = _filters.residual(INDEX_COLUMNS)

    @property
    def _exact(self) -> bool:
        """SQL alone decides which runs are here (no row needs a test in Python)."""
        return self._test is None and self._query.exact

    def _entry(self, uid: object) -> tuple[IndexedRun, dict[str, Any]]:
        row = rows.one(self._query, uid) if isinstance(uid, str) else None
        if row is None:
            raise KeyError(uid)
        entry = _entry(row)
        if self._test is not None and not self._test(entry[1]):
            raise KeyError(uid)
        return entry

    def _entries(self, oldest_first: bool = False
                 ) -> Iterator[tuple[IndexedRun, dict[str, Any]]]:
        """Every run here, in order, with its metadata, read a batch at a time."""
        for batch in rows.stream(self._query, uids=False, oldest_first=oldest_first):
            for row in batch:
                entry = _entry(row)
                if self._test is None or self._test(entry[1]):
                    yield entry

    def iter_uids(self, *, oldest_first: bool = False) -> Iterator[str]:
        """Yield the uids here, in order, read a batch at a time (see :meth:`uids`)."""
        if self._test is not None:
            return (run.uid for run, _ in self._entries(oldest_first))
        return (row[0] for batch in rows.stream(self._query, uids=True,
                                                oldest_first=oldest_first) for row in batch)

    def metadata_of(self, uid: str) -> dict[str, Any]:
        """Return the metadata of one run (``start``, ``stop``, ``summary``).

        Raises
        ------
        KeyError
            If no run here has that uid.
        """
        return self._entry(uid)[1]

    def uids(self, offset: int = 0, limit: int | None = None, *,
             oldest_first: bool = False) -> list[str]:
        """Return a page of the uids here: ``limit`` of them (all: None) from ``offset``.

        Parameters
        ----------
        offset, limit : int
            Where the page starts in the order, and how many it holds at most.
        oldest_first : bool, optional
            Count in the reverse order: oldest first, runs without a start time first.

        Returns
        -------
        list of str
            Read with ``LIMIT`` / ``OFFSET`` when SQL decides alone.
        """
        offset = max(0, int(offset))
        if limit is not None and limit <= 0:
            return []
        if self._exact:
            return [row[0] for row in rows.page(self._query, offset, limit, uids=True,
                                                  oldest_first=oldest_first)]
        stop = None if limit is None else offset + limit
        return list(itertools.islice(self.iter_uids(oldest_first=oldest_first), offset, stop))

    def count(self, limit: int | None = None) -> int:
        """Return the number of runs here, counting no further than ``limit`` (None: all).

        ``len(catalog)`` is ``catalog.count()``.
        """
        if self._test is None:
            return rows.count(self._query, limit)
        return sum(1 for _ in itertools.islice(self._entries(), limit))

    def runs_metadata(self, *, oldest_first: bool = False) -> Iterator[dict[str, Any]]:
        """Yield the metadata of every run here, in order, read a batch at a time."""
        return (metadata for _, metadata in self._entries(oldest_first))

    def search(self, query: Any) -> IndexCatalog:
        """Return the runs that also match ``query`` (a :mod:`tiled.queries` query).

        Nothing is read: the query is checked and added to the filter.

        Raises
        ------
        ValueError
            For a query type that cannot be answered (:class:`FilterError`).
        """
        filters = self._query.filters
        filters = dataclasses.replace(filters, queries=(*filters.queries, query))
        filters.residual(INDEX_COLUMNS)
        filters.clause(INDEX_COLUMNS)
        return IndexCatalog(self.index_path, _filters=filters)

    def __getitem__(self, uid: str) -> IndexedRun:
        return self._entry(uid)[0]

    def __contains__(self, uid: object) -> bool:
        try:
            self._entry(uid)
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return self.iter_uids()

    def __len__(self) -> int:
        return self.count()

    def items(self) -> ItemsView[str, IndexedRun]:
        """The ``(uid, run)`` pairs, read a batch at a time."""
        return _Items(self)

    def values(self) -> ValuesView[IndexedRun]:
        """The runs, read a batch at a time."""
        return _Values(self)

    def __repr__(self) -> str:
        return f"<IndexCatalog {self.index_path} ({len(self)} runs)>"


class _Items(ItemsView[str, IndexedRun]):
    _mapping: IndexCatalog

    def __iter__(self) -> Iterator[tuple[str, IndexedRun]]:
        return ((run.uid, run) for run, _ in self._mapping._entries())


class _Values(ValuesView[IndexedRun]):
    _mapping: IndexCatalog

    def __iter__(self) -> Iterator[IndexedRun]:
        return (run for run, _ in self._mapping._entries())
