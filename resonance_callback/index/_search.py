"""Search the master index: which runs, of which sample, plan or researcher, live where.

:func:`search` filters the index's run summaries and returns
:class:`IndexedRun` records, newest first, each knowing the absolute path of
the beamtime database it lives in (resolved under its researcher's current
root, so a moved tree still resolves).

Filters and order
-----------------
The same as :meth:`Beamtime.runs <resonance_callback.read.Beamtime.runs>` and
the ``runs`` command, defined once in :mod:`resonance_callback.store`'s run
filter: ``sample``, ``plan``, ``researcher`` and ``tag`` are case-sensitive
shell patterns (``*``, ``?``, ``[...]``; exact without them); ``exit_status``
is ``success``, ``aborted``, ``failed`` or ``open``; ``since`` is inclusive
and ``until`` exclusive, a bare date as ``until`` including that day;
``scan_id`` is the start document's; ``where`` holds ``{KEY: VALUE}`` pairs
tested against the start document (``KEY`` dotted for nested dicts), a value
matching an equal value or an element of a stored list, and a string that
reads as a JSON number, ``true``, ``false`` or ``null`` also matching that
value, so ``--where scan_id=3`` finds ``scan_id: 3``. Runs come newest first.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resonance_callback import _sqlite as schema
from resonance_callback import jsoncodec
from resonance_callback._time import TimeLike
from resonance_callback._time import parse_time as _parse_time
from resonance_callback.errors import FilterError, IndexEntryError
from resonance_callback.index._dialect import is_url
from resonance_callback.index._pg_search import pg_rows
from resonance_callback.index._select import INDEX_COLUMNS, RUN_SELECT
from resonance_callback.store import FilterColumns, RunFilter, newest_first

__all__ = ["INDEX_COLUMNS", "RUN_SELECT", "IndexedRun", "TimeLike", "indexed_run", "parse_time",
           "search"]

#: The index schema version that brought ``run_metadata`` (``sql/0002_*.sql``).
_RUN_METADATA_VERSION = 2


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


def index_columns(conn: sqlite3.Connection) -> FilterColumns:
    """The columns a filter is written against in this index (its schema's)."""
    if conn.execute("PRAGMA user_version").fetchone()[0] < _RUN_METADATA_VERSION:
        # an older index opened read-only (not migrated): no run_metadata to narrow by
        return dataclasses.replace(INDEX_COLUMNS, metadata_index=None)
    return INDEX_COLUMNS


def indexed_run(row: tuple[Any, ...]) -> IndexedRun:
    """Return the :class:`IndexedRun` of one row of :data:`RUN_SELECT`."""
    (uid, plan_name, sample_name, scan_id, t0, t1, status, researcher, label, root, db_path,
     tags, num_events) = row[:13]
    return IndexedRun(uid, plan_name, sample_name, scan_id, t0, t1, status, researcher, label,
                      root, db_path, tags=tuple(jsoncodec.loads(tags)),
                      num_events=jsoncodec.loads(num_events) or {})


def parse_time(value: TimeLike, *, end_of_day: bool = False) -> float:
    """Return ``value`` as a unix time (see :func:`resonance_callback._time.parse_time`).

    Raises
    ------
    IndexEntryError
        If ``value`` is not a time.
    """
    try:
        return _parse_time(value, end_of_day=end_of_day)
    except ValueError as exc:
        raise IndexEntryError(str(exc)) from None


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
    exit_status: str | None = None,
    scan_id: int | None = None,
) -> list[IndexedRun]:
    """Find runs in the master index.

    Parameters
    ----------
    index_path : str or PathLike
        The master index database, or its ``postgresql://`` URL.
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
    exit_status : str or None, optional
        ``success``, ``aborted``, ``failed`` (``abort``, ``fail``), or ``open``.
    scan_id : int or None, optional
        The start document's ``scan_id``.

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
        If a time, an exit status or a ``where`` key cannot be read.
    """
    filters = RunFilter(
        sample=sample, plan=plan, researcher=researcher, since=since, until=until, tag=tag,
        where=where, exit_status=exit_status, scan_id=scan_id)
    try:
        filters.clause(INDEX_COLUMNS)  # a filter that cannot be used fails before the file
    except FilterError as exc:
        raise IndexEntryError(str(exc)) from None
    if is_url(index_path):
        return [indexed_run(row) for row in pg_rows(str(index_path), filters)]
    conn = schema.connect(os.fspath(index_path), "index", readonly=True)
    try:
        clause, args = filters.clause(index_columns(conn))
        rows = conn.execute(f"{RUN_SELECT}{clause} {newest_first(INDEX_COLUMNS)}",
                            args).fetchall()
    finally:
        conn.close()
    return [indexed_run(row) for row in rows]
