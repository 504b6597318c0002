"""The index's runs read a page, a row or a count at a time, on either engine.

:class:`~resonance_callback.index.IndexCatalog` reads through these: one
indexed single-row query for a run, a ``COUNT`` for a length, ``LIMIT`` /
``OFFSET`` for a page, and a stream (a cursor read in batches: SQLite steps
its statement, PostgreSQL a server-side cursor) to go through every run, so
that no call holds every start document of a large index.

The filter is the store's :class:`~resonance_callback.store.RunFilter`. On
SQLite its SQL decides; on PostgreSQL the server narrows
(:func:`~resonance_callback.index._pg_search.pg_rows`'s narrowing) and, when
SQL there cannot decide alone, each batch of candidates is decided in an
in-memory SQLite index, as ``pg_rows`` decides. What SQL leaves to Python
(:meth:`RunFilter.residual`) is not tested here: the caller tests the rows.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from typing import Any

from resonance_callback import _sqlite as schema
from resonance_callback.errors import StorageError
from resonance_callback.index import _pg
from resonance_callback.index._dialect import display, is_url
from resonance_callback.index._pg_search import PG_COLUMNS, PG_RUN_SELECT, _decide, _narrowing
from resonance_callback.index._search import RUN_SELECT, index_columns
from resonance_callback.store import FilterColumns, RunFilter, newest_first

__all__ = ["BATCH", "Query", "check", "count", "one", "page", "stream"]

#: Rows read from the engine at a time when going through many.
BATCH = 500

Row = tuple[Any, ...]


def _order(columns: FilterColumns, oldest_first: bool) -> str:
    if not oldest_first:
        return newest_first(columns)
    # the exact reverse of newest_first: runs without a start time first, then oldest first
    return (f"ORDER BY {columns.time_start} IS NULL DESC, {columns.time_start} ASC, "
            f"{columns.tiebreak} ASC")


def _from(select: str) -> str:
    return select[select.index("FROM runs r"):]


def _with_equalities(filters: RunFilter) -> RunFilter:
    """``filters`` with each Tiled ``Eq`` on a start-document scalar as a ``where`` pair too.

    Only to narrow on PostgreSQL (through ``run_metadata``): a ``where`` pair keeps
    every run an equality keeps (and more: an element of a list, a number's text),
    and the candidates are then decided on the whole filter.
    """
    where = dict(filters.where or {})
    for query in filters.queries:
        if type(query).__name__ != "Eq" or not isinstance(query.key, str):
            continue
        value = query.value
        if not (value is None or isinstance(value, str | int | float)):
            continue
        key = query.key.removeprefix("start.")
        if key.split(".")[0] in ("stop", "summary") and key == query.key:
            continue
        where.setdefault(key, value)
    return dataclasses.replace(filters, where=where) if where else filters


class Query:
    """One filter over one index: the SQL it reads with and whether SQL alone decides.

    Parameters
    ----------
    index : str
        The SQLite file or the ``postgresql://`` URL.
    filters : RunFilter
        What to keep.
    """

    def __init__(self, index: str, filters: RunFilter) -> None:
        self.index, self.filters = index, filters
        self.postgres = is_url(index)
        if self.postgres:
            self._where, self._params, self._decide = _narrowing(_with_equalities(filters))
        else:
            self._where, self._params, self._decide = "", [], False

    @property
    def exact(self) -> bool:
        """True when the engine's SQL alone decides which runs the filter keeps."""
        return not self._decide

    def _sql(self, conn: Any, what: str, uid: str | None = None
             ) -> tuple[str, list[Any], FilterColumns]:
        """``what`` (``"rows"``, ``"uids"``, ``"count"``) with the filter's WHERE clause.

        With a ``uid``, only that run's row (``r.uid = ?``, the primary key).
        """
        if self.postgres:
            select, where, params, columns = PG_RUN_SELECT, self._where, self._params, PG_COLUMNS
        else:
            columns = index_columns(conn)
            where, params = self.filters.clause(columns)
            select = RUN_SELECT
        params = list(params)
        if uid is not None:
            where = f"{where} AND r.uid = ?" if where else " WHERE r.uid = ?"
            params.append(uid)
        if what == "uids":
            select = "SELECT r.uid " + _from(select)
        elif what == "count":
            select = "SELECT COUNT(*) " + _from(select)
        return select + where, params, columns

    def _kept(self, rows: list[Row]) -> list[Row]:
        if not self._decide or not rows:
            return rows
        kept = _decide(rows, self.filters)
        return [row for row in rows if row[0] in kept]

    def _run(self, fn: Any) -> Any:
        """``fn(conn)`` on a connection to the index (a lost PostgreSQL one is tried again)."""
        if not self.postgres:
            conn = schema.connect(self.index, "index", readonly=True)
            try:
                return fn(conn)
            finally:
                conn.close()
        for attempt in (1, 2):
            try:
                with _pg.reading(self.index) as pg:
                    return fn(pg)
            except Exception as exc:
                if not _pg.is_driver_error(exc):
                    raise
                if attempt == 1 and _pg.is_retryable(exc):
                    continue
                raise StorageError(f"cannot search index {display(self.index)}: "
                                   f"{_pg.one_line(exc)}") from exc
        raise AssertionError("unreachable")  # pragma: no cover


def check(index: str) -> None:
    """Open the index and close it again: it is there and is an index (no run is read)."""
    Query(index, RunFilter())._run(lambda conn: None)


def one(query: Query, uid: str) -> Row | None:
    """The row of run ``uid`` if the filter keeps it (one indexed single-row query)."""
    def read(conn: Any) -> Row | None:
        sql, params, _ = query._sql(conn, "rows", uid)
        row = conn.execute(sql, params).fetchone()
        return tuple(row) if row is not None else None

    row = query._run(read)
    if row is None:
        return None
    return row if query._kept([row]) else None


def count(query: Query, limit: int | None = None) -> int:
    """The number of runs the filter keeps, no further than ``limit``.

    A ``COUNT`` when SQL alone decides, else the rows are read until ``limit``.
    """
    if query.exact:
        def read(conn: Any) -> int:
            sql, params, _ = query._sql(conn, "uids")
            if limit is not None:
                sql, params = f"{sql} LIMIT ?", [*params, max(0, limit)]
            return int(conn.execute(f"SELECT COUNT(*) FROM ({sql}) AS counted",
                                    params).fetchone()[0])
        return int(query._run(read))
    found = 0
    for batch in stream(query, uids=False):
        found += len(batch)
        if limit is not None and found >= limit:
            return limit
    return found


def page(query: Query, offset: int, limit: int | None, *, uids: bool,
         oldest_first: bool = False) -> list[Row]:
    """Rows ``offset`` .. ``offset + limit`` (``LIMIT`` / ``OFFSET``; SQL alone deciding)."""
    if not query.exact:
        raise ValueError("page() needs a filter SQL decides alone; use stream()")

    def read(conn: Any) -> list[Row]:
        sql, params, columns = query._sql(conn, "uids" if uids else "rows")
        bound = limit if limit is not None else (None if query.postgres else -1)
        return [tuple(row) for row in conn.execute(
            f"{sql} {_order(columns, oldest_first)} LIMIT ? OFFSET ?",
            [*params, bound, max(0, offset)]).fetchall()]

    rows: list[Row] = query._run(read)
    return rows


def stream(query: Query, *, uids: bool, oldest_first: bool = False) -> Iterator[list[Row]]:
    """Every run the filter keeps, in order, as batches of rows.

    Rows hold the uid only when ``uids`` and SQL alone decides, else the whole row.
    """
    uids = uids and query.exact
    if not query.postgres:
        yield from _sqlite_stream(query, uids, oldest_first)
        return
    started = False
    for attempt in (1, 2):
        try:
            with _pg.reading(query.index) as conn:
                sql, params, columns = query._sql(conn, "uids" if uids else "rows")
                for batch in conn.batches(f"{sql} {_order(columns, oldest_first)}", params,
                                          BATCH):
                    started = True
                    kept = query._kept([tuple(row) for row in batch])
                    if kept:
                        yield kept
            return
        except Exception as exc:
            if not _pg.is_driver_error(exc):
                raise
            if attempt == 1 and not started and _pg.is_retryable(exc):
                continue
            raise StorageError(f"cannot search index {display(query.index)}: "
                               f"{_pg.one_line(exc)}") from exc


def _sqlite_stream(query: Query, uids: bool, oldest_first: bool) -> Iterator[list[Row]]:
    conn: sqlite3.Connection = schema.connect(query.index, "index", readonly=True)
    try:
        sql, params, columns = query._sql(conn, "uids" if uids else "rows")
        cursor = conn.execute(f"{sql} {_order(columns, oldest_first)}", params)
        while batch := cursor.fetchmany(BATCH):
            yield [tuple(row) for row in batch]
    finally:
        conn.close()
