"""The one run filter: what ``sample=``, ``since=``, ``where=`` ... mean, defined once.

:meth:`Beamtime.runs <resonance_callback.read.Beamtime.runs>`, the ``runs``
command and the master index's ``search`` all build their ``WHERE`` clause
and their order here. The clause is parameterised by the column names of the
table it filters (:data:`BEAMTIME_COLUMNS` for a beamtime's ``runs r LEFT
JOIN samples s``; the index passes its own), so each package keeps its own
SQL while the meaning is defined in this one module.

Matching rules
--------------
``sample``, ``plan``, ``researcher``, ``tag``
    Case-sensitive. A value with ``*``, ``?`` or ``[...]`` is a shell
    pattern (SQLite ``GLOB``); a value without them matches exactly.
    ``tag`` matches any of the start document's ``tags``.
``exit_status``
    ``success``, ``aborted``, ``failed`` (Bluesky's ``abort`` / ``fail``
    too), or ``open`` for a run with no stop yet
    (:func:`~resonance_callback.store.status_filter`).
``since`` / ``until``
    A unix time, a datetime (naive means local time), a date, or an ISO 8601
    string. ``since`` is inclusive, ``until`` exclusive, except that a bare
    date as ``until`` includes that whole day.
``scan_id``
    The start document's ``scan_id``.
``where``
    ``{KEY: VALUE}`` pairs, all of which must hold, tested against the start
    document. ``KEY`` is a key or a dotted path into nested dicts
    (``"sample.formula"``). A scalar ``VALUE`` matches an equal value there,
    or an element of a list stored there; a list or dict matches an equal
    one. A string ``VALUE`` that reads as a JSON number, ``true``, ``false``
    or ``null`` also matches that value, so the command line's
    ``--where scan_id=3`` (always a string) finds ``scan_id: 3``.

``queries``
    Tiled's metadata queries (``bt.search``, the Tiled server, the index's
    catalog). ``where`` pairs and queries are translated into SQL by the one
    query engine, :mod:`resonance_callback.store._query`, which also says
    what is left to Python (:meth:`RunFilter.residual`) and why.

Order
-----
Newest first: latest ``time_start`` first, runs without a start time last,
ties broken by the table's tie-break column, latest first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from resonance_callback._time import TimeLike, parse_time
from resonance_callback.errors import FilterError
from resonance_callback.store._query import translate, where_condition
from resonance_callback.store._query_terms import BEAMTIME_COLUMNS, FilterColumns, leaf_clause
from resonance_callback.store._vocabulary import OPEN, status_filter

__all__ = ["ALL_RUNS", "BEAMTIME_COLUMNS", "FilterColumns", "RunFilter", "newest_first",
           "time_bound"]

_WILDCARDS = frozenset("*?[")


def newest_first(columns: FilterColumns) -> str:
    """Return the ``ORDER BY`` clause of the one default order: newest first."""
    return (f"ORDER BY {columns.time_start} IS NULL, {columns.time_start} DESC, "
            f"{columns.tiebreak} DESC")


def time_bound(value: TimeLike, what: str = "since") -> float:
    """Return a ``since`` / ``until`` value as a unix time.

    Parameters
    ----------
    value : float, datetime, date or str
        See the module's matching rules.
    what : {"since", "until"}
        ``until`` reads a bare date as the end of that day.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``value`` is not a time (:class:`FilterError`).
    """
    try:
        return parse_time(value, end_of_day=what == "until")
    except ValueError as exc:
        raise FilterError(f"{what}: {exc}") from None


def _pattern(column: str, value: str) -> tuple[str, list[Any]]:
    op = "GLOB" if _WILDCARDS & set(value) else "="
    return f"{column} {op} ?", [value]


def _tag_clause(columns: FilterColumns, tag: str) -> tuple[str, list[Any]]:
    if columns.tag_exists is not None:
        match, args = _pattern("t.tag", tag)
        return columns.tag_exists.format(match=match), args
    match, args = _pattern("t.value", tag)
    if columns.metadata_index is not None and not _WILDCARDS & set(tag):
        narrow, narrow_args = leaf_clause(columns.metadata_index, "tags", [tag])
        return (f"({narrow} AND EXISTS (SELECT 1 FROM json_each({columns.metadata}, '$.tags') "
                f"AS t WHERE t.type = 'text' AND {match}))", [*narrow_args, *args])
    return (f"EXISTS (SELECT 1 FROM json_each({columns.metadata}, '$.tags') AS t "
            f"WHERE t.type = 'text' AND {match})", args)


@dataclasses.dataclass(frozen=True)
class RunFilter:
    """One set of run filters, with the meaning the module's matching rules give.

    Built once from what a user gave (``Beamtime.runs()``, the ``runs``
    command, the master index's ``search``) and rendered into SQL for the
    table asked (:meth:`clause`). Every field is optional; an empty filter
    matches every run.

    Attributes
    ----------
    sample, plan, exit_status, since, until, scan_id, tag, where, researcher
        See the module's matching rules; ``researcher`` only on a table that
        has one (the master index).
    queries : tuple of tiled.queries queries
        Tiled's metadata queries, all of which must hold, translated by the
        query engine (:mod:`resonance_callback.store._query`); what SQL cannot
        express is left to :meth:`residual`.
    """

    sample: str | None = None
    plan: str | None = None
    exit_status: str | None = None
    since: TimeLike | None = None
    until: TimeLike | None = None
    scan_id: int | None = None
    tag: str | None = None
    where: Mapping[str, Any] | None = None
    researcher: str | None = None
    queries: tuple[Any, ...] = ()

    def residual(self, columns: FilterColumns = BEAMTIME_COLUMNS
                 ) -> Callable[[Mapping[str, Any]], bool] | None:
        """Return the test of a run's metadata that :meth:`clause` leaves to Python, or None.

        The part of :attr:`queries` SQL cannot express (see
        :mod:`resonance_callback.store._query`): a run is found when the
        clause holds and this test passes on its metadata (``start``,
        ``stop``, ``summary``).
        """
        tests = [t for t in (translate(q, columns).test for q in self.queries) if t is not None]
        if not tests:
            return None
        return lambda metadata: all(test(metadata) for test in tests)

    def clause(self, columns: FilterColumns = BEAMTIME_COLUMNS) -> tuple[str, list[Any]]:
        """Return the ``WHERE`` clause (or ``""``) and its parameters for a table.

        Parameters
        ----------
        columns : FilterColumns, optional
            The table's columns; default a beamtime's (:data:`BEAMTIME_COLUMNS`).

        Returns
        -------
        tuple of (str, list)
            SQL text starting with `` WHERE`` (empty when nothing filters) and
            its parameters.

        Raises
        ------
        ValueError
            For an unknown ``exit_status``, an unusable ``where`` key, a time
            that is not one, or a ``researcher`` on a table without
            researchers (:class:`FilterError`).
        """
        conditions: list[str] = []
        params: list[Any] = []

        def add(clause: tuple[str, list[Any]]) -> None:
            conditions.append(clause[0])
            params.extend(clause[1])

        for column, value in ((columns.sample, self.sample), (columns.plan, self.plan)):
            if value is not None:
                add(_pattern(column, str(value)))
        if self.researcher is not None:
            if columns.researcher is None:
                raise FilterError("a beamtime's runs have no researcher to filter on")
            add(_pattern(columns.researcher, str(self.researcher)))
        if self.exit_status is not None:
            try:
                status = status_filter(self.exit_status)
            except ValueError as exc:
                raise FilterError(str(exc)) from None
            add((f"{columns.exit_status} IS NULL", []) if status == OPEN
                else (f"{columns.exit_status} = ?", [status]))
        if self.since is not None:
            add((f"{columns.time_start} >= ?", [time_bound(self.since, "since")]))
        if self.until is not None:
            add((f"{columns.time_start} < ?", [time_bound(self.until, "until")]))
        if self.scan_id is not None:
            try:
                add((f"{columns.scan_id} = ?", [int(self.scan_id)]))
            except (TypeError, ValueError):
                raise FilterError(f"scan_id {self.scan_id!r} is not an integer") from None
        if self.tag is not None:
            add(_tag_clause(columns, str(self.tag)))
        for key, value in (self.where or {}).items():
            add(where_condition(columns, key, value))
        for query in self.queries:
            translated = translate(query, columns)
            if translated.sql is not None:
                add((translated.sql, translated.params))
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return clause, params


#: The empty filter: every run.
ALL_RUNS = RunFilter()
