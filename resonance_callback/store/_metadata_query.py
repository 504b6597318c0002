"""Tiled's metadata queries, evaluated against a run's metadata in Python.

The reading layer (``bt.search``), the master index and the Tiled server all
answer Tiled's query objects (:mod:`tiled.queries`: ``Eq``, ``NotEq``,
``Comparison``, ``Contains``, ``In``, ``NotIn``, ``Regex``, ``Like``,
``KeyPresent``, ``FullText``) with :func:`matches`, so a query means the same
everywhere. Queries are recognised by their class name and fields, so this
module needs no ``tiled`` import; a query of another type raises
:class:`~resonance_callback.errors.FilterError`.

Keys are dotted paths into the run's metadata, as Tiled's bluesky catalogs
lay it out: ``start.plan_name``, ``start.sample``, ``stop.exit_status``,
``summary.duration``; a key that starts with none of ``start.``, ``stop.``,
``summary.`` looks into the start document (``plan_name`` is
``start.plan_name``), as bluesky-tiled-plugins' catalog client does. A
missing key matches nothing (except ``NotEq``, ``NotIn`` and
``KeyPresent(exists=False)``, which match it, as in Tiled's in-memory
containers).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator, Mapping
from typing import Any

from resonance_callback.errors import FilterError

__all__ = ["matches"]

_MISSING = object()
_TOP = ("start", "stop", "summary")
_COMPARE = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}


def _lookup(metadata: Mapping[str, Any], key: str) -> Any:
    term: Any = metadata
    parts = key.split(".")
    if parts[0] not in _TOP:
        parts.insert(0, "start")
    for part in parts:
        if not isinstance(term, Mapping) or part not in term:
            return _MISSING
        term = term[part]
    return term


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _like(pattern: str) -> re.Pattern[str]:
    out = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(out, re.DOTALL)


def matches(query: Any, metadata: Mapping[str, Any]) -> bool:
    """Return whether a run's metadata satisfies one Tiled query.

    Parameters
    ----------
    query : tiled.queries query
        ``Eq``, ``NotEq``, ``Comparison``, ``Contains``, ``In``, ``NotIn``,
        ``Regex``, ``Like``, ``KeyPresent`` or ``FullText`` (what
        ``tiled.queries.Key("start.plan_name") == "scan"`` and friends build).
    metadata : mapping
        The run's metadata: ``{"start": ..., "stop": ..., "summary": ...}``.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        For a query type this cannot answer, or a comparison of values that
        do not compare (:class:`FilterError`, naming the key).
    """
    kind = type(query).__name__
    if kind == "FullText":
        words = set(str(query.text).lower().split())
        found = {w for s in _strings(dict(metadata)) for w in s.lower().split()}
        return not words.isdisjoint(found)
    key = getattr(query, "key", None)
    if not isinstance(key, str):
        raise FilterError(f"cannot search runs with the query {query!r}")
    term = _lookup(metadata, key)
    if kind == "KeyPresent":
        return (term is not _MISSING) == bool(query.exists)
    if kind == "NotEq":
        return term is _MISSING or term != query.value
    if kind == "NotIn":
        return term is _MISSING or term not in query.value
    if term is _MISSING:
        return False
    if kind == "Eq":
        return bool(term == query.value)
    if kind == "In":
        return term in query.value
    if kind == "Contains":
        return isinstance(term, list | tuple | Mapping) and query.value in term
    if kind == "Regex":
        flags = 0 if query.case_sensitive else re.IGNORECASE
        return isinstance(term, str) and re.search(query.pattern, term, flags) is not None
    if kind == "Like":
        return isinstance(term, str) and _like(query.pattern).fullmatch(term) is not None
    if kind == "Comparison":
        op = _COMPARE.get(str(getattr(query.operator, "value", query.operator)))
        if op is None:
            raise FilterError(f"unknown comparison {query.operator!r} on key {key!r}")
        try:
            return bool(op(term, query.value))
        except TypeError:
            return False
    raise FilterError(f"cannot search runs with the query {query!r} (key {key!r})")
