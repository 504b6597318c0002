"""The one query engine: Tiled's queries and ``where`` pairs, translated to SQL over a run table.

``bt.search`` and the Tiled server's search of a beamtime (Tiled's query
objects), the master index's :class:`~resonance_callback.index.IndexCatalog`
(the same, over the index) and ``Beamtime.runs(where=...)``, the ``runs`` and
``search`` commands' ``--where`` (``{KEY: VALUE}`` pairs) are all translated
here, into one condition on the table's columns (:class:`FilterColumns`), the
``run_metadata`` side table narrowing by value where it can. The run filter
(:mod:`._filter`) puts it in its ``WHERE`` clause.

SQL answers ``Eq``, ``NotEq``, ``In``, ``NotIn``, ``Comparison``, ``Contains``
and ``KeyPresent`` on ``start.*`` keys (bare keys too) and ``stop.*`` keys,
with a scalar value (None, a bool, a 64-bit integer, a finite float, a
string), exactly as Python's ``==``, ``<`` ... on the decoded document answer
them (:mod:`._metadata_query` states that meaning). Python answers the rest,
on each candidate's metadata, because SQL cannot say the same thing:

- ``Regex`` and ``Like``: SQLite has no regular expressions (its ``LIKE`` is
  case-insensitive for ASCII only, its ``GLOB`` another syntax); RE2 matches
  in time linear in the text, which a bounded search needs;
- ``FullText``: words of every string of the metadata, lower-cased as
  Python lower-cases Unicode (SQLite's ``lower`` knows ASCII only);
- ``summary.*`` keys: the summary is computed by the reading layer (stream
  names, the sample's name, an ISO date), from several tables;
- a list, dict, NaN or a value too large for 64 bits: Python's equality of
  these (``1 == 1.0`` inside lists, dicts in any key order) is not SQLite's
  JSON text equality;
- a key with an empty part or a quote, which SQLite's JSON paths cannot name,
  or a part starting with ``$`` (and ``Contains`` of such a string): a dict
  of one ``$`` member is stored escaped (:mod:`resonance_callback.jsoncodec`).
  The other tagged values compare in SQL as in Python: an infinity, stored
  as ``{"$float": "Infinity"}``, is translated for ``Comparison``; NaN,
  bytes and those dicts equal no scalar and order against none.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.store._metadata_query import matcher
from resonance_callback.store._query_terms import (
    FilterColumns,
    equal_scalar,
    json_path,
    leaf_clause,
    sql_scalar,
)

__all__ = ["Translated", "translate", "where_condition"]

_TOP = ("start", "stop", "summary")
_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclasses.dataclass(frozen=True)
class Translated:
    """One query as SQL and, for what SQL cannot say, a Python test.

    A run matches when ``sql`` holds (or is None) and ``test`` passes on its
    metadata (or is None).
    """

    sql: str | None
    params: list[Any]
    test: Callable[[Mapping[str, Any]], bool] | None


def _document(columns: FilterColumns, key: str) -> tuple[str, str, str] | None:
    """``(column, JSON path, last part)`` of a query key, or None if SQL cannot read it."""
    parts = key.split(".")
    if parts[0] not in _TOP:
        parts.insert(0, "start")
    column = {"start": columns.metadata, "stop": columns.stop}.get(parts[0])
    rest = parts[1:]
    if column is None or not rest or any(
            not p or '"' in p or "\\" in p or p.startswith("$") for p in rest):
        return None  # "$": a dict of one "$" member is stored escaped (jsoncodec's tags)
    return column, "$" + "".join(f'."{p}"' for p in rest), rest[-1]


def _any_equal(type_sql: str, value_sql: str, values: list[Any]) -> tuple[str, list[Any]] | None:
    """Condition that the value equals one of ``values`` (``"0"`` for none), or None."""
    terms, params = [], []
    for value in values:
        term = equal_scalar(type_sql, value_sql, value)
        if term is None:
            return None
        terms.append(term[0])
        params.extend(term[1])
    return (f"({' OR '.join(terms)})" if terms else "0"), params


def _values(query: Any, kind: str) -> list[Any] | None:
    if kind in ("Eq", "NotEq"):
        return [query.value]
    value = query.value
    return list(value) if isinstance(value, list | tuple) else None


def _sql(query: Any, kind: str, columns: FilterColumns) -> tuple[str, list[Any]] | None:
    """The exact SQL of one query, or None where only Python can answer it."""
    place = _document(columns, query.key)
    if place is None:
        return None
    column, path, leaf = place
    type_sql, value_sql = f"json_type({column}, ?)", f"json_extract({column}, ?)"
    if kind == "KeyPresent":
        present = f"{type_sql} IS NOT NULL"
        return (present if query.exists else f"NOT ({present})"), [path]
    if kind in ("Eq", "NotEq", "In", "NotIn"):
        values = _values(query, kind)
        if values is None:
            return None
        equal = _any_equal(type_sql, value_sql, values)
        if equal is None:
            return None
        args = _interleave(equal[1], values, path)
        if kind in ("NotEq", "NotIn"):
            return f"NOT coalesce({equal[0]}, 0)", args
        narrow = None if column != columns.metadata or columns.metadata_index is None else (
            leaf_clause(columns.metadata_index, leaf, [_param(v) for v in values]))
        if narrow is None or not values:
            return equal[0], args
        return f"({narrow[0]} AND {equal[0]})", [*narrow[1], *args]
    if kind == "Comparison":
        scalar = sql_scalar(query.value)
        if scalar is None or scalar[0] == "null":
            return None
        name = str(getattr(query.operator, "value", query.operator))
        op = _COMPARE[name]
        if scalar[0] == "text":
            return f"({type_sql} = 'text' AND {value_sql} {op} ?)", [path, path, scalar[1]]
        # an infinity is stored as {"$float": "Infinity"} (jsoncodec) and compares as one
        infinity = "Infinity" if name in ("gt", "ge") else "-Infinity"
        return (f"(({type_sql} IN ('integer', 'real', 'true', 'false') AND {value_sql} {op} ?) "
                f"OR ({type_sql} = 'object' AND json_extract({column}, ?) = ?))",
                [path, path, scalar[1], path, f'{path}."$float"', infinity])
    if kind == "Contains":
        element = equal_scalar("j.type", "j.value", query.value)
        if element is None:
            return None
        sql = (f"({type_sql} = 'array' AND EXISTS (SELECT 1 FROM json_each({column}, ?) AS j "
               f"WHERE {element[0]}))")
        args = [path, path, *element[1]]
        if isinstance(query.value, str) and query.value.startswith("$"):
            return None  # a dict of one "$" member is stored escaped: Python reads it back
        if isinstance(query.value, str):  # a string is in a dict when it is one of its keys
            sql = (f"({sql} OR ({type_sql} = 'object' AND EXISTS (SELECT 1 FROM "
                   f"json_each({column}, ?) AS j WHERE j.key = ?)))")
            args += [path, path, query.value]
        return sql, args
    return None


def _param(value: Any) -> Any:
    scalar = sql_scalar(value)
    assert scalar is not None  # checked by _any_equal
    return scalar[1]


def _interleave(params: list[Any], values: list[Any], path: str) -> list[Any]:
    """The parameters of :func:`_any_equal`'s terms with each term's JSON paths before them."""
    out: list[Any] = []
    it = iter(params)
    for value in values:
        out += [path] if value is None else [path, path, next(it)]
    return out


def translate(query: Any, columns: FilterColumns) -> Translated:
    """Translate one Tiled query for a run table (see the module's description).

    Parameters
    ----------
    query : tiled.queries query
        One of :data:`~._metadata_query.QUERY_KINDS`.
    columns : FilterColumns
        The table's columns.

    Returns
    -------
    Translated

    Raises
    ------
    ValueError
        For a query this cannot answer, or a pattern RE2 refuses
        (:class:`FilterError`, naming it).
    """
    test = matcher(query)  # checks the query (and compiles a pattern) in every case
    kind = type(query).__name__
    sql = None if kind in ("Regex", "Like", "FullText") else _sql(query, kind, columns)
    if sql is None:
        return Translated(None, [], test)
    return Translated(sql[0], sql[1], None)


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


def where_condition(columns: FilterColumns, key: str, value: Any) -> tuple[str, list[Any]]:
    """Condition that the start document holds ``value`` (or a list with it) at ``key``.

    The meaning of a ``where`` pair (see :mod:`._filter`): an equal scalar, or
    a list holding it; a string that reads as a JSON number, ``true``,
    ``false`` or ``null`` matches that value too; a list or dict an equal one.

    Raises
    ------
    ValueError
        For a key that is not a dotted path of keys (:class:`FilterError`).
    """
    metadata = columns.metadata
    path = json_path(key)
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
        narrow, narrow_args = leaf_clause(columns.metadata_index, key.split(".")[-1], values)
        return f"({narrow} AND {exact[0]})", [*narrow_args, *exact[1]]
    # lists, dicts and NaN / infinities (stored as {"$float": ...}) compare as JSON
    text = jsoncodec.dumps(value)
    return (f"(json_extract({metadata}, ?) = json(?) OR (json_type({metadata}, ?) = 'array' "
            f"AND EXISTS (SELECT 1 FROM json_each({metadata}, ?) AS j "
            "WHERE j.type IN ('array', 'object') AND j.value = json(?))))",
            [path, text, path, path, text])
