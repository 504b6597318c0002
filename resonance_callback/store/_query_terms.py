"""The SQL terms the query engine (:mod:`._query`) is built of: columns, paths, leaves.

A run's documents are JSON in its table's columns (:class:`FilterColumns`); a
key is a JSON path into one (:func:`json_path`); a scalar is compared with
:func:`equal_scalar`, which means Python's ``==`` on the decoded value
(``True == 1 == 1.0``, ``None`` only equal to a JSON null); the
``run_metadata`` side table (every scalar of every start document, filed by
the name of the key that holds it) narrows the candidates through
:func:`leaf_clause` before the exact test.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from resonance_callback.errors import FilterError

__all__ = ["BEAMTIME_COLUMNS", "FilterColumns", "equal_scalar", "json_path", "leaf_clause",
           "sql_scalar"]


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
    stop : str or None
        An expression giving the run's ``stop`` metadata as JSON (NULL while
        open), what Tiled queries on ``stop.*`` keys read; None: those are
        tested in Python.
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
    stop: str | None = None


#: Columns of a beamtime's ``runs r LEFT JOIN samples s ON s.id = r.sample_id``.
BEAMTIME_COLUMNS = FilterColumns(
    sample="s.name", plan="r.plan_name", exit_status="r.exit_status",
    time_start="r.time_start", scan_id="r.scan_id", metadata="r.metadata",
    tiebreak="r.rowid",
    metadata_index="r.uid IN (SELECT m.run_uid FROM run_metadata m WHERE {match})",
    stop="r.stop_document")


def json_path(key: str) -> str:
    """SQLite JSON path of a start-document key; dots separate nested keys."""
    parts = key.split(".") if isinstance(key, str) else []
    if not parts or any(not p or '"' in p for p in parts):
        raise FilterError(f"where key {key!r} is not a key or a dotted path of keys "
                          "(no empty parts, no quotes)")
    return "$" + "".join(f'."{p}"' for p in parts)


def sql_scalar(value: Any) -> tuple[str, Any] | None:
    """``(kind, parameter)`` of a value SQL compares as Python does, or None.

    ``kind`` is ``"null"``, ``"number"`` (bools, ints that fit 64 bits, finite
    floats: Python's ``True == 1 == 1.0`` is SQLite's too, a JSON true reading
    as 1) or ``"text"`` (a string SQLite can bind: no lone surrogate).
    """
    if value is None:
        return "null", None
    if isinstance(value, bool):
        return "number", int(value)
    if isinstance(value, int):
        return ("number", value) if -(2**63) <= value < 2**63 else None
    if isinstance(value, float):
        return ("number", value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return "text", value
    return None


def equal_scalar(type_sql: str, value_sql: str, value: Any) -> tuple[str, list[Any]] | None:
    """Condition that a JSON value (its ``json_type`` and its SQL value) ``==`` a scalar."""
    scalar = sql_scalar(value)
    if scalar is None:
        return None
    kind, param = scalar
    if kind == "null":
        return f"{type_sql} = 'null'", []
    if kind == "number":
        return (f"({type_sql} IN ('integer', 'real', 'true', 'false') AND {value_sql} = ?)",
                [param])
    return f"({type_sql} = 'text' AND {value_sql} = ?)", [param]


def leaf_clause(template: str, key: str, values: list[Any]) -> tuple[str, list[Any]]:
    """Condition that a run files one of ``values`` under the key name ``key``.

    ``None`` among ``values`` stands for SQL NULL (a JSON null); true and false
    are filed as 1 and 0.
    """
    known = [v for v in values if v is not None]
    tests = [f"m.value IN ({', '.join('?' * len(known))})"] if known else []
    if len(known) < len(values):
        tests.append("m.value IS NULL")
    match = f"m.key = ? AND ({' OR '.join(tests)})"
    return template.format(match=match), [key, *known]
