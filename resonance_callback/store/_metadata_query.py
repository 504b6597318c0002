"""Tiled's metadata queries, evaluated against a run's metadata in Python.

This is the meaning of Tiled's query objects (:mod:`tiled.queries`: ``Eq``,
``NotEq``, ``Comparison``, ``Contains``, ``In``, ``NotIn``, ``Regex``,
``Like``, ``KeyPresent``, ``FullText``) and the Python half of the one query
engine (:mod:`._query`): the engine translates into SQL what SQL can say with
this same meaning, and leaves the rest (``Regex``, ``Like``, ``FullText``,
``summary`` keys, values SQL does not compare as Python does) to
:func:`matcher`. Metadata kept in no table (a directory's, a stream's, served
by Tiled) is searched with :func:`matches` alone. Queries are recognised by
their class name and fields, so this module needs no ``tiled`` import; a
query of another type raises :class:`~resonance_callback.errors.FilterError`.

Keys are dotted paths into the run's metadata, as Tiled's bluesky catalogs
lay it out: ``start.plan_name``, ``start.sample``, ``stop.exit_status``,
``summary.duration``; a key that starts with none of ``start.``, ``stop.``,
``summary.`` looks into the start document (``plan_name`` is
``start.plan_name``), as bluesky-tiled-plugins' catalog client does. A
missing key matches nothing (except ``NotEq``, ``NotIn`` and
``KeyPresent(exists=False)``, which match it, as in Tiled's in-memory
containers).

Time is bounded by the size of what is searched: ``Regex`` and ``Like`` run
on RE2 (``google-re2``, the ``tiled`` extra), whose matching is linear in the
text, so no pattern backtracks (``(a+)+$`` is as fast as ``a``). RE2 has no
backreferences or lookaround: such a pattern is refused
(:class:`~resonance_callback.errors.FilterError`, naming it), as is one too
large to compile. :func:`matcher` checks and compiles a query once for many
runs.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import FilterError

__all__ = ["QUERY_KINDS", "matcher", "matches"]

#: The query types (class names) :func:`matches` answers.
QUERY_KINDS = frozenset({"Eq", "NotEq", "Comparison", "Contains", "In", "NotIn", "Regex",
                         "Like", "KeyPresent", "FullText"})
#: The longest ``Regex`` / ``Like`` pattern compiled (characters).
MAX_PATTERN = 10_000

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
    """Every string in ``value``, however deeply nested (no recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))


def _found(compiled: Any, text: Any, whole: bool) -> bool:
    """Whether RE2 finds the pattern in ``text`` (all of it if ``whole``); False for no string."""
    if not isinstance(text, str):
        return False
    try:
        return (compiled.fullmatch(text) if whole else compiled.search(text)) is not None
    except UnicodeEncodeError:  # a lone surrogate (JSON's "\ud800"): RE2 takes UTF-8 only
        text = text.encode("utf-8", "replace").decode("utf-8")
        return (compiled.fullmatch(text) if whole else compiled.search(text)) is not None


@functools.lru_cache(maxsize=128)
def _compile(pattern: str, case_sensitive: bool, kind: str, key: str) -> Any:
    """Compile a pattern with RE2 (linear-time matching), or raise FilterError naming it."""
    with needs_extra("tiled", "google-re2", f"a {kind} query"):
        import re2
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.dot_nl = True
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except (re2.error, UnicodeEncodeError) as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise FilterError(f"{kind} pattern {pattern[:80]!r} on key {key!r} refused: {reason} "
                          "(RE2 syntax: no backreferences or lookaround)") from None


def _like(pattern: str, key: str) -> Any:
    with needs_extra("tiled", "google-re2", "a Like query"):
        import re2
    out = "".join(".*" if c == "%" else "." if c == "_" else re2.escape(c) for c in pattern)
    return _compile(out, True, "Like", key)


def _pattern(query: Any, kind: str) -> str:
    pattern = getattr(query, "pattern", None)
    if not isinstance(pattern, str):
        raise FilterError(f"{kind} pattern {pattern!r} on key {query.key!r} is not a string")
    if len(pattern) > MAX_PATTERN:
        raise FilterError(f"{kind} pattern of {len(pattern)} characters on key {query.key!r} "
                          f"refused (at most {MAX_PATTERN})")
    return pattern


def matcher(query: Any) -> Callable[[Mapping[str, Any]], bool]:
    """Check one Tiled query and return its test of a run's metadata, compiled once.

    Parameters
    ----------
    query : tiled.queries query
        One of :data:`QUERY_KINDS`.

    Returns
    -------
    callable
        ``test(metadata) -> bool``, as :func:`matches` answers.

    Raises
    ------
    ValueError
        For a query type this cannot answer, an unknown comparison, or a
        pattern RE2 refuses (:class:`FilterError`, naming it).
    """
    kind = type(query).__name__
    if kind == "Regex":
        key = query.key
        compiled = _compile(_pattern(query, kind), bool(query.case_sensitive), kind, key)
        return lambda md: _found(compiled, _lookup(md, key), whole=False)
    if kind == "Like":
        key = query.key
        compiled = _like(_pattern(query, kind), key)
        return lambda md: _found(compiled, _lookup(md, key), whole=True)
    if kind == "Comparison" and str(getattr(query.operator, "value", query.operator)) not in (
            _COMPARE):
        raise FilterError(f"unknown comparison {query.operator!r} on key {query.key!r}")
    if kind not in QUERY_KINDS or (kind != "FullText" and not isinstance(
            getattr(query, "key", None), str)):
        raise FilterError(f"cannot search runs with the query {query!r}")
    return functools.partial(matches, query)


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
        compiled = _compile(_pattern(query, kind), bool(query.case_sensitive), kind, key)
        return _found(compiled, term, whole=False)
    if kind == "Like":
        like = _like(_pattern(query, kind), key)
        return _found(like, term, whole=True)
    if kind == "Comparison":
        op = _COMPARE.get(str(getattr(query.operator, "value", query.operator)))
        if op is None:
            raise FilterError(f"unknown comparison {query.operator!r} on key {key!r}")
        try:
            return bool(op(term, query.value))
        except TypeError:
            return False
    raise FilterError(f"cannot search runs with the query {query!r} (key {key!r})")
