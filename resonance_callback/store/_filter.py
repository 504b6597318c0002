"""Turn :meth:`Beamtime.runs <resonance_callback.reader.Beamtime.runs>` filters into SQL.

The query is on ``runs r LEFT JOIN samples s``; start-document keys are
matched with SQLite's ``json_extract`` on ``r.metadata`` (the start document).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback._time import parse_time
from resonance_callback.store._vocabulary import OPEN, status_filter

__all__ = ["run_filter"]


def _timestamp(value: float | _dt.datetime | str, what: str) -> float:
    """Return a Unix time (naive = local); a bare date as ``until`` includes that day."""
    try:
        return parse_time(value, end_of_day=what == "until")
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _json_path(key: str) -> str:
    """SQLite JSON path of a start-document key; dots separate nested keys."""
    parts = key.split(".")
    if not key or any(not p or '"' in p for p in parts):
        raise ValueError(f"cannot filter on start-document key {key!r}")
    return "$" + "".join(f'."{p}"' for p in parts)


def _where_clause(key: str, value: Any) -> tuple[str, list[Any]]:
    """SQL condition and parameters matching ``start[key] == value``."""
    path = _json_path(key)
    if value is None:
        return "json_type(r.metadata, ?) = 'null'", [path]
    if isinstance(value, bool):
        return "json_type(r.metadata, ?) = ?", [path, "true" if value else "false"]
    if isinstance(value, str):
        return "json_extract(r.metadata, ?) = ?", [path, value]
    if isinstance(value, int) and abs(value) < 2**63:
        return "json_extract(r.metadata, ?) = ?", [path, value]
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return "json_extract(r.metadata, ?) = ?", [path, value]
    if isinstance(value, int):  # SQLite reads JSON integers this large as REAL
        return "json_extract(r.metadata, ?) = ?", [path, float(value)]
    # lists, dicts and NaN / infinities (stored as {"$float": ...}) compare as JSON text
    return "json_extract(r.metadata, ?) = json(?)", [path, jsoncodec.dumps(value)]


def run_filter(
    *,
    sample: str | None = None,
    plan: str | None = None,
    exit_status: str | None = None,
    since: float | _dt.datetime | str | None = None,
    until: float | _dt.datetime | str | None = None,
    scan_id: int | None = None,
    where: dict[str, Any] | None = None,
) -> tuple[str, list[Any]]:
    """Return the ``WHERE`` clause (or ``""``) and its parameters for these filters.

    Parameters
    ----------
    sample, plan, exit_status, since, until, scan_id, where
        As :meth:`Beamtime.runs <resonance_callback.reader.Beamtime.runs>` takes them.

    Returns
    -------
    tuple of (str, list)
        SQL text starting with `` WHERE`` (empty when nothing filters) and
        its parameters.

    Raises
    ------
    ValueError
        For an unknown ``exit_status``, an unusable ``where`` key, or a time
        string that is not ISO 8601.
    """
    conditions: list[str] = []
    params: list[Any] = []
    if sample is not None:
        conditions.append("s.name = ?")
        params.append(sample)
    if plan is not None:
        conditions.append("r.plan_name = ?")
        params.append(plan)
    if exit_status is not None:
        status = status_filter(exit_status)
        if status == OPEN:
            conditions.append("r.exit_status IS NULL")
        else:
            conditions.append("r.exit_status = ?")
            params.append(status)
    if since is not None:
        conditions.append("r.time_start >= ?")
        params.append(_timestamp(since, "since"))
    if until is not None:
        conditions.append("r.time_start < ?")
        params.append(_timestamp(until, "until"))
    if scan_id is not None:
        conditions.append("r.scan_id = ?")
        params.append(int(scan_id))
    for key, value in (where or {}).items():
        sql, values = _where_clause(key, value)
        conditions.append(sql)
        params.extend(values)
    clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return clause, params
