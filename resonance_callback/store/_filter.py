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

Order
-----
Newest first: latest ``time_start`` first, runs without a start time last,
ties broken by the table's tie-break column, latest first.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback._time import TimeLike, parse_time
from resonance_callback.errors import FilterError
from resonance_callback.store._vocabulary import OPEN, status_filter

__all__ = ["ALL_RUNS", "BEAMTIME_COLUMNS", "FilterColumns", "RunFilter", "newest_first",
           "time_bound"]

_WILDCARDS = frozenset("*?[")


@dataclasses.dataclass(frozen=True)
class FilterColumns:
    """The SQL expressions a run filter is written against.

    Attributes
    ----------
    sample, plan, exit_status, time_start, scan_id, metadata : str
        Column expressions; ``metadata`` holds the start document as JSON.
    tiebreak : str
        Orders runs that started at the same time (descending).
    researcher : str or None
        The researcher's name, where there is one (the master index).
    tag_exists : str or None
        An ``EXISTS (...)`` template with ``{match}`` where the condition on a
        tag goes (applied to ``t.tag``); None means tags are read from the
        start document's ``tags`` key.
    metadata_index : str or None
        A condition template with ``{match}`` where the condition on the
        ``key`` and ``value`` columns of the table's ``run_metadata`` (the
        start documents' leaves, filed by key name) goes, e.g.
        ``r.uid IN (SELECT m.run_uid FROM run_metadata m WHERE {match})``;
        ``where`` and ``tag`` narrow the runs through it before testing the
        start document. None: no such table (a database of an older schema
        opened read-only), every start document is tested.
    """

    sample: str
    plan: str
    exit_status: str
    time_start: str
    scan_id: str
    metadata: str
    tiebreak: str
    researcher: str | None = None
    tag_exists: str | None = None
    metadata_index: str | None = None


#: Columns of a beamtime's ``runs r LEFT JOIN samples s ON s.id = r.sample_id``.
BEAMTIME_COLUMNS = FilterColumns(
    sample="s.name", plan="r.plan_name", exit_status="r.exit_status",
    time_start="r.time_start", scan_id="r.scan_id", metadata="r.metadata",
    tiebreak="r.rowid",
    metadata_index="r.uid IN (SELECT m.run_uid FROM run_metadata m WHERE {match})")


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


def _json_path(key: str) -> str:
    """SQLite JSON path of a start-document key; dots separate nested keys."""
    parts = key.split(".") if isinstance(key, str) else []
    if not parts or any(not p or '"' in p for p in parts):
        raise FilterError(f"where key {key!r} is not a key or a dotted path of keys "
                          "(no empty parts, no quotes)")
    return "$" + "".join(f'."{p}"' for p in parts)


def _scalar_clause(value: Any) -> tuple[str, list[Any]] | None:
    """Condition on a ``json_each`` row ``j`` equal to a scalar, or None if not a scalar."""
    if value is None:
        return "j.type = 'null'", []
    if isinstance(value, bool):
        return "j.type = ?", ["true" if value else "false"]
    if isinstance(value, int) and not isinstance(value, bool):
        number: float | int = value if abs(value) < 2**63 else float(value)
        return "(j.type IN ('integer', 'real') AND j.value = ?)", [number]
    if isinstance(value, float) and math.isfinite(value):
        return "(j.type IN ('integer', 'real') AND j.value = ?)", [value]
    if isinstance(value, str):
        clause, args = "(j.type = 'text' AND j.value = ?)", [value]
        try:
            parsed = json.loads(value)
        except ValueError:
            return clause, args
        if parsed is None or isinstance(parsed, bool | int) or (
                isinstance(parsed, float) and math.isfinite(parsed)):
            other = _scalar_clause(parsed)
            assert other is not None
            return f"({clause} OR {other[0]})", args + other[1]
        return clause, args
    return None


def _leaf_values(value: Any) -> list[Any] | None:
    """The ``run_metadata.value`` s a scalar filter value can match, or None if not a scalar.

    ``None`` stands for SQL NULL (a JSON null); true and false are filed as 1 and 0.
    """
    if value is None or isinstance(value, bool):
        return [None if value is None else int(value)]
    if isinstance(value, int):
        return [value] if abs(value) < 2**63 else None
    if isinstance(value, float):
        return [value] if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        if parsed is None or isinstance(parsed, bool | int | float):
            more = _leaf_values(parsed)
            return [value, *(more or [])]
        return [value]
    return None


def _leaf_clause(template: str, key: str, values: list[Any]) -> tuple[str, list[Any]]:
    """Condition that a run files one of ``values`` under the key name ``key``."""
    known = [v for v in values if v is not None]
    tests = [f"m.value IN ({', '.join('?' * len(known))})"] if known else []
    if len(known) < len(values):
        tests.append("m.value IS NULL")
    match = f"m.key = ? AND ({' OR '.join(tests)})"
    return template.format(match=match), [key, *known]


def _where_clause(columns: FilterColumns, key: str, value: Any) -> tuple[str, list[Any]]:
    """Condition that the start document holds ``value`` (or a list with it) at ``key``."""
    metadata = columns.metadata
    path = _json_path(key)
    scalar = _scalar_clause(value)
    if scalar is not None:
        match, args = scalar
        exact = (f"(json_type({metadata}, ?) IS NOT 'object' AND EXISTS ("
                 f"SELECT 1 FROM json_each({metadata}, ?) AS j WHERE {match}))",
                 [path, path, *args])
        values = _leaf_values(value)
        if columns.metadata_index is None or values is None:
            return exact
        # The side table narrows the runs (an index search); the start document decides.
        narrow, narrow_args = _leaf_clause(columns.metadata_index, key.split(".")[-1], values)
        return f"({narrow} AND {exact[0]})", [*narrow_args, *exact[1]]
    # lists, dicts and NaN / infinities (stored as {"$float": ...}) compare as JSON
    text = jsoncodec.dumps(value)
    return (f"(json_extract({metadata}, ?) = json(?) OR (json_type({metadata}, ?) = 'array' "
            f"AND EXISTS (SELECT 1 FROM json_each({metadata}, ?) AS j "
            "WHERE j.type IN ('array', 'object') AND j.value = json(?))))",
            [path, text, path, path, text])


def _tag_clause(columns: FilterColumns, tag: str) -> tuple[str, list[Any]]:
    if columns.tag_exists is not None:
        match, args = _pattern("t.tag", tag)
        return columns.tag_exists.format(match=match), args
    match, args = _pattern("t.value", tag)
    if columns.metadata_index is not None and not _WILDCARDS & set(tag):
        narrow, narrow_args = _leaf_clause(columns.metadata_index, "tags", [tag])
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
            add(_where_clause(columns, key, value))
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return clause, params


#: The empty filter: every run.
ALL_RUNS = RunFilter()
