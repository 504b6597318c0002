"""Search the master index: which runs, of which sample, plan or researcher, live where.

:func:`search` filters the index's run summaries and returns
:class:`IndexedRun` records, newest first, each knowing the absolute path of
the beamtime database it lives in (resolved under its researcher's current
root, so a moved tree still resolves).

Matching rules
--------------
``sample``, ``plan``, ``researcher`` and ``tag``
    Case-sensitive; ``*``, ``?`` and ``[...]`` are shell wildcards (SQLite
    ``GLOB``). Without wildcards they are exact matches.
``since`` / ``until``
    A unix time, a :class:`~datetime.datetime` (naive means local time), a
    :class:`~datetime.date`, or an ISO 8601 string. ``since`` is inclusive and
    ``until`` exclusive, except that a bare date as ``until`` includes the
    whole day: ``since="2026-03-05", until="2026-03-05"`` is that day.
``where``
    ``{KEY: VALUE}`` pairs, all of which must hold, tested against the run's
    start document. ``KEY`` is a top-level key or a dotted path into nested
    dicts (``"sample_info.formula"``). The run matches when the value there
    equals ``VALUE``, or is a list containing it. A string ``VALUE`` that
    reads as a JSON number, ``true``, ``false`` or ``null`` also matches that
    value, so ``--where scan_id=3`` finds ``scan_id: 3``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resonance_callback import _sqlite as schema
from resonance_callback import jsoncodec
from resonance_callback._time import TimeLike
from resonance_callback._time import parse_time as _parse_time
from resonance_callback.errors import IndexEntryError

__all__ = ["IndexedRun", "TimeLike", "parse_time", "search"]

#: What ``since`` and ``until`` accept.


@dataclasses.dataclass(frozen=True)
class IndexedRun:
    """A run found in the master index.

    Parameters
    ----------
    uid : str
        The run's start-document uid.
    plan_name : str or None
        Name of the scan plan.
    sample_name : str or None
        Name of the sample.
    scan_id : int or None
        The start document's ``scan_id``.
    time_start : float or None
        Unix time the run started.
    time_stop : float or None
        Unix time the run stopped; None while open.
    exit_status : str or None
        "success", "aborted" or "failed"; None while open.
    researcher : str
        Name of the researcher who owns the beamtime.
    beamtime : str
        Label of the beamtime the run lives in.
    root_path : str
        The researcher's root, absolute.
    relative_path : str
        The beamtime database relative to ``root_path``.
    tags : tuple of str
        The run's tags.
    num_events : dict[str, int]
        Events per stream, once the run has stopped.
    """

    uid: str
    plan_name: str | None
    sample_name: str | None
    scan_id: int | None
    time_start: float | None
    time_stop: float | None
    exit_status: str | None
    researcher: str
    beamtime: str
    root_path: str
    relative_path: str
    tags: tuple[str, ...] = ()
    num_events: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        """Path: the absolute path of the beamtime database holding the run."""
        return Path(self.root_path) / self.relative_path

    def to_dict(self) -> dict[str, Any]:
        """Return the run as JSON-ready builtins, with ``db_path`` as a string.

        Returns
        -------
        dict
            Every field, plus ``db_path``; ``tags`` as a list.
        """
        out = dataclasses.asdict(self)
        out["tags"] = list(self.tags)
        out["db_path"] = str(self.db_path)
        return out


def parse_time(value: TimeLike, *, end_of_day: bool = False) -> float:
    """Return ``value`` as a unix time (see :func:`resonance_callback.timeparse.parse_time`).

    Raises
    ------
    IndexEntryError
        If ``value`` is not a time.
    """
    try:
        return _parse_time(value, end_of_day=end_of_day)
    except ValueError as exc:
        raise IndexEntryError(str(exc)) from None


def _json_path(key: str) -> str:
    """Return the SQLite JSON path of a dotted ``key``."""
    parts = key.split(".")
    if not key or any(not part or '"' in part for part in parts):
        raise IndexEntryError(
            f"where key {key!r} is not a key or a dotted path of keys (no empty parts, no quotes)"
        )
    return "$" + "".join(f'."{part}"' for part in parts)


def _value_clause(value: Any) -> tuple[str, list[Any]]:
    """Return the condition on ``j.type`` / ``j.value`` (a json_each row) for ``value``."""
    if value is None:
        return "j.type = 'null'", []
    if isinstance(value, bool):
        return "j.type = ?", ["true" if value else "false"]
    if isinstance(value, int | float):
        return "(j.type IN ('integer', 'real') AND j.value = ?)", [value]
    text = str(value)
    clause, args = "(j.type = 'text' AND j.value = ?)", [text]
    try:
        parsed = json.loads(text)
    except ValueError:
        return clause, args
    if parsed is None or isinstance(parsed, bool | int) or (
        isinstance(parsed, float) and math.isfinite(parsed)
    ):
        other, more = _value_clause(parsed)
        return f"({clause} OR {other})", args + more
    return clause, args


def _where_clause(key: str, value: Any) -> tuple[str, list[Any]]:
    path = _json_path(key)
    match, args = _value_clause(value)
    return (
        "(json_type(r.metadata, ?) IS NOT 'object' AND EXISTS ("
        f"SELECT 1 FROM json_each(r.metadata, ?) AS j WHERE {match}))",
        [path, path, *args],
    )


def search(
    index_path: str | os.PathLike[str],
    *,
    sample: str | None = None,
    plan: str | None = None,
    researcher: str | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    tag: str | None = None,
    where: Mapping[str, Any] | None = None,
) -> list[IndexedRun]:
    """Find runs in the master index.

    Parameters
    ----------
    index_path : str or PathLike
        The master index database.
    sample : str or None, optional
        Sample name (wildcards allowed).
    plan : str or None, optional
        Plan name (wildcards allowed).
    researcher : str or None, optional
        Researcher name (wildcards allowed).
    since : float, datetime, date or str, optional
        Runs that started at or after this time.
    until : float, datetime, date or str, optional
        Runs that started before this time (a bare date: by the end of that day).
    tag : str or None, optional
        Runs carrying this tag (wildcards allowed).
    where : Mapping or None, optional
        Start-document keys (dotted for nested) and the values they must hold.

    Returns
    -------
    list of IndexedRun
        Matching runs, newest first (runs without a start time last).

    Raises
    ------
    StorageError
        If there is no index at ``index_path``.
    NotABeamtimeError
        If the file is not an index database.
    IndexEntryError
        If a time or a ``where`` key cannot be read.
    """
    clauses: list[str] = []
    args: list[Any] = []
    for column, pattern in (("r.sample_name", sample), ("r.plan_name", plan),
                            ("res.name", researcher)):
        if pattern is not None:
            clauses.append(f"{column} GLOB ?")
            args.append(pattern)
    if tag is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM run_tags t WHERE t.run_uid = r.uid AND t.tag GLOB ?)"
        )
        args.append(tag)
    if since is not None:
        clauses.append("r.time_start >= ?")
        args.append(parse_time(since))
    if until is not None:
        clauses.append("r.time_start < ?")
        args.append(parse_time(until, end_of_day=True))
    for key, value in (where or {}).items():
        clause, more = _where_clause(key, value)
        clauses.append(clause)
        args.extend(more)
    sql = """SELECT r.uid, r.plan_name, r.sample_name, r.scan_id, r.time_start, r.time_stop,
                    r.exit_status, res.name, b.label, res.root_path, b.db_path,
                    (SELECT json_group_array(tag) FROM
                        (SELECT tag FROM run_tags WHERE run_uid = r.uid ORDER BY tag)),
                    r.num_events
             FROM runs r
             JOIN beamtimes b ON b.id = r.beamtime_id
             JOIN researchers res ON res.id = b.researcher_id"""
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY r.time_start IS NULL, r.time_start DESC, r.uid"
    conn = schema.connect(index_path, "index", readonly=True)
    try:
        rows = conn.execute(sql, args).fetchall()
    finally:
        conn.close()
    return [
        IndexedRun(*row[:11], tags=tuple(jsoncodec.loads(row[11])),
                   num_events=jsoncodec.loads(row[12]))
        for row in rows
    ]
