"""What differs between the index on SQLite and on PostgreSQL, in one place.

The statements of :mod:`._store` are written once, in SQLite's spelling with
``?`` / ``:name`` placeholders; :func:`to_postgres` rewrites them for psycopg
(``%s`` / ``%(name)s``) and :data:`LEAST` names the two-argument minimum. An
upsert's ``SET`` names the target table's columns qualified (``researchers.email``),
which both engines read the same way.

JSON: SQLite files a start document's leaves (``run_metadata``) with triggers
over ``json_tree``; on PostgreSQL the writer files them (:func:`leaf_rows`), by the
same rules, as tokens (:func:`leaf_token`) that fit a B-tree entry, and the
index's tags are read back as JSON with :data:`TAGS_JSON`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sqlite3
from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

__all__ = ["LEAST", "TAGS_JSON", "IndexConn", "Rows", "dialect_of", "display", "glob_prefix",
           "is_url", "leaf_key", "leaf_rows", "leaf_token", "to_postgres"]

class Rows(Protocol):
    """What a statement returns on either engine (a cursor)."""

    @property
    def rowcount(self) -> int:
        """Rows the statement changed."""

    def fetchone(self) -> Any:
        """The next row, or None."""

    def fetchall(self) -> list[Any]:
        """The remaining rows."""


class IndexConn(Protocol):
    """A connection the index's statements run on: ``sqlite3.Connection`` or ``PgConnection``."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Rows:
        """Run one statement."""

    def executemany(self, sql: str, parameters: Any, /) -> Rows:
        """Run one statement for each set of parameters."""


def dialect_of(conn: IndexConn) -> str:
    """``"sqlite"`` or ``"postgres"``."""
    return "sqlite" if isinstance(conn, sqlite3.Connection) else "postgres"


#: The schemes of an index on PostgreSQL.
_SCHEMES = ("postgresql://", "postgres://")

#: The two-argument minimum (NULL if either is NULL), per dialect.
LEAST = {"sqlite": "min", "postgres": "LEAST"}

#: The run's tags as a JSON array text, sorted bytewise, per dialect (``r`` is the run).
TAGS_JSON = {
    "sqlite": "(SELECT json_group_array(tag) FROM "
              "(SELECT tag FROM run_tags WHERE run_uid = r.uid ORDER BY tag))",
    "postgres": "(SELECT coalesce(json_agg(tag ORDER BY tag COLLATE \"C\"), '[]'::json)::text "
                "FROM run_tags WHERE run_uid = r.uid)",
}

#: Longest key or value token stored as itself; longer ones are stored by their hash.
_TOKEN_CHARS = 200

def is_url(target: str | os.PathLike[str]) -> bool:
    """True if ``target`` names an index on PostgreSQL (a ``postgresql://`` URL)."""
    return isinstance(target, str) and target.lower().startswith(_SCHEMES)


def display(url: str | os.PathLike[str]) -> str:
    """An index as error messages and logs show it: a URL's password replaced by ``***``.

    A path is shown as it is.
    """
    url = str(url)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def to_postgres(sql: str) -> str:
    """Rewrite SQLite placeholders (``?``, ``:name``) as psycopg's (``%s``, ``%(name)s``).

    The statements rewritten hold no string literal with ``?`` or ``:``; a ``%``
    is doubled, and PostgreSQL's ``::`` casts are left alone.
    """
    sql = sql.replace("%", "%%").replace("?", "%s")
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)


def glob_prefix(pattern: str) -> str:
    """The literal start of a shell pattern: what every matching value starts with."""
    cut = min((i for i, c in enumerate(pattern) if c in "*?["), default=len(pattern))
    return pattern[:cut]


def _hashed(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"#{digest}"


def leaf_key(key: str) -> str:
    """The ``run_metadata.key`` token of a key name."""
    if len(key) > _TOKEN_CHARS or "\x00" in key or key.startswith("#"):
        return _hashed(key)
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return _hashed(key)
    return key


def leaf_token(value: Any) -> str | None:
    """The ``run_metadata.value`` token of a scalar: equal values give equal tokens.

    Numbers (booleans as 1 and 0) by their float, so ``1 == 1.0 == True`` as in
    SQLite; strings by their JSON text; None (a JSON null) gives SQL NULL.
    """
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.copysign(math.inf, value)
        text = f"n{number!r}"
    else:
        text = json.dumps(str(value))
    return text if len(text) <= _TOKEN_CHARS else _hashed(text)


def _leaves(node: Any, key: str | None) -> Iterator[tuple[str, Any]]:
    """(key, scalar) of every filed leaf under ``node`` held by ``key`` (None: not a name)."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _leaves(value, name)
    elif isinstance(node, list):
        for element in node:
            if isinstance(element, dict):
                yield from _leaves(element, None)
            elif isinstance(element, list):
                yield from _leaves(element, None)
            elif key is not None:
                yield key, element
    elif key is not None:
        yield key, node


def leaf_rows(uid: str, metadata: str | None) -> list[tuple[str, str, str | None]]:
    """The ``run_metadata`` rows of one run's start document (JSON text), as SQLite files them.

    A scalar is filed under the name of the key that holds it; an element of a
    list under the list's key; a list inside a list files nothing of its own
    scalars; equal values under one key are filed once.
    """
    try:
        document = json.loads(metadata) if metadata is not None else {}
    except ValueError:
        document = {}
    rows: dict[tuple[str, str | None], None] = {}
    for key, value in _leaves(document if isinstance(document, dict) else {}, None):
        rows[(leaf_key(key), leaf_token(value))] = None
    return [(uid, key, value) for key, value in rows]
