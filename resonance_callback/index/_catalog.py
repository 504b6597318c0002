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
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from resonance_callback import _sqlite as schema
from resonance_callback import jsoncodec
from resonance_callback.index._dialect import is_url
from resonance_callback.index._pg_search import pg_rows
from resonance_callback.index._search import (
    INDEX_COLUMNS,
    RUN_SELECT,
    IndexedRun,
    index_columns,
    indexed_run,
)
from resonance_callback.store import RunFilter, newest_first

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


class IndexCatalog(Mapping[str, IndexedRun]):
    """The runs of a master index, by uid, newest first, searchable with Tiled's queries.

    Parameters
    ----------
    index_path : str or PathLike
        The master index database, or its ``postgresql://`` URL. Read when the
        catalog is made; a new ``IndexCatalog`` sees runs indexed since.

    Raises
    ------
    OSError
        If there is no index at ``index_path`` (:class:`StorageError`).
    sqlite3.DatabaseError
        If the file is not an index database (:class:`NotABeamtimeError`).
    """

    def __init__(self, index_path: str | os.PathLike[str], *,
                 _runs: dict[str, tuple[IndexedRun, dict[str, Any]]] | None = None) -> None:
        self.index_path = os.fspath(index_path)
        if _runs is None:
            rows = self._rows(RunFilter())
            _runs = {}
            for row in rows:
                run = indexed_run(row)
                _runs[run.uid] = (run, _metadata(run, jsoncodec.loads(row[13]) or {}))
        self._runs = _runs

    def metadata_of(self, uid: str) -> dict[str, Any]:
        """Return the metadata of one run (``start``, ``stop``, ``summary``)."""
        return self._runs[uid][1]

    def search(self, query: Any) -> IndexCatalog:
        """Return the runs that also match ``query`` (a :mod:`tiled.queries` query).

        Raises
        ------
        ValueError
            For a query type that cannot be answered (:class:`FilterError`).
        """
        filters = RunFilter(queries=(query,))
        test = filters.residual(INDEX_COLUMNS)
        found: set[str] | None = None
        if is_url(self.index_path):
            found = {row[0] for row in self._rows(filters)}
            return self._kept(found, test)
        conn = schema.connect(self.index_path, "index", readonly=True)
        try:
            clause, args = filters.clause(index_columns(conn))
            if clause:
                found = {row[0] for row in conn.execute(
                    f"SELECT r.uid FROM ({RUN_SELECT}{clause}) AS r", args)}
        finally:
            conn.close()
        return self._kept(found, test)

    def _kept(self, found: set[str] | None,
              test: Callable[[Mapping[str, Any]], bool] | None) -> IndexCatalog:
        kept = {uid: entry for uid, entry in self._runs.items()
                if (found is None or uid in found) and (test is None or test(entry[1]))}
        return IndexCatalog(self.index_path, _runs=kept)

    def _rows(self, filters: RunFilter) -> list[tuple[Any, ...]]:
        """The index's rows (of ``RUN_SELECT``) ``filters`` keeps, newest first."""
        if is_url(self.index_path):
            return pg_rows(self.index_path, filters)
        conn = schema.connect(self.index_path, "index", readonly=True)
        try:
            clause, args = filters.clause(index_columns(conn))
            return conn.execute(
                f"{RUN_SELECT}{clause} {newest_first(INDEX_COLUMNS)}", args).fetchall()
        finally:
            conn.close()

    def __getitem__(self, uid: str) -> IndexedRun:
        return self._runs[uid][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._runs)

    def __len__(self) -> int:
        return len(self._runs)

    def __repr__(self) -> str:
        return f"<IndexCatalog {self.index_path} ({len(self)} runs)>"
