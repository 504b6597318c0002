"""The SQL of each kind's numbered migrations, shared fragments included (``render``)."""

from __future__ import annotations

import functools
from importlib import resources

#: The package whose ``sql/`` folder holds each kind's numbered migrations.
_SQL_PACKAGES = {"beamtime": "resonance_callback.store", "index": "resonance_callback.index"}

#: The package whose ``sql/`` folder holds the fragments migrations include.
_FRAGMENT_PACKAGE = "resonance_callback"
_INCLUDE = "-- @include "
_FRAGMENT = "-- @fragment "


@functools.cache
def _fragments(filename: str) -> dict[str, str]:
    """The named fragments of one shared SQL file (``-- @fragment NAME`` sections)."""
    text = (resources.files(_FRAGMENT_PACKAGE) / "sql" / filename).read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines(keepends=True):
        if line.startswith(_FRAGMENT):
            current = found.setdefault(line[len(_FRAGMENT):].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "".join(lines).rstrip() + "\n" for name, lines in found.items()}


def render(sql: str) -> str:
    """Return a migration's SQL with each ``-- @include FILE NAME`` line replaced by the fragment.

    Parameters
    ----------
    sql : str
        The text of a migration file.

    Returns
    -------
    str
        The SQL the migration runs.

    Raises
    ------
    KeyError
        If a fragment named is not in its file (a packaging mistake, found by the tests).
    """
    if _INCLUDE not in sql:
        return sql
    out = []
    for line in sql.splitlines(keepends=True):
        if line.startswith(_INCLUDE):
            filename, name = line[len(_INCLUDE):].split()
            fragments = _fragments(filename)
            if name not in fragments:
                raise KeyError(f"migration includes {filename} {name}, which has no such "
                               "fragment")
            out.append(fragments[name])
        else:
            out.append(line)
    return "".join(out)


@functools.cache
def _migrations(kind: str) -> tuple[tuple[int, str, str], ...]:
    # Read once per process: every connect() asks three times, and the package's
    # files do not change while it runs.
    folder = resources.files(_SQL_PACKAGES[kind]) / "sql"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, render(entry.read_text(encoding="utf-8"))))
    return tuple(sorted(found))


def latest_version(kind: str) -> int:
    """Return the schema version the newest migration of ``kind`` brings a database to.

    Parameters
    ----------
    kind : {"beamtime", "index"}
        Which kind of database.

    Returns
    -------
    int
        The number of the last migration file.
    """
    return _migrations(kind)[-1][0]
