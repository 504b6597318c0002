"""Find runs: by filter (:func:`select_runs`) or by one key (:func:`find_run`).

A run key is, in this order of reading:

* a full uid;
* a negative integer ``-N`` (an int, or a string such as ``"-1"``): the N-th
  newest run (``-1`` is the latest);
* a non-negative integer (an int, or a string of digits): the run with that
  ``scan_id``; a string of digits that is no run's scan_id is read as a uid
  prefix;
* a uid prefix matching exactly one run.

No match, or more than one, raises :class:`~resonance_callback.errors.RunLookupError`
(a ``KeyError``) listing the candidates.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from resonance_callback.errors import RunLookupError
from resonance_callback.store._filter import ALL_RUNS, BEAMTIME_COLUMNS, RunFilter, newest_first
from resonance_callback.store._reader import BeamtimeReader

__all__ = ["StoredRun", "count_runs", "find_run", "select_runs"]

_SELECT = ("SELECT r.uid, r.plan_name, r.scan_id, r.time_start, r.metadata, s.id, s.name, "
           "s.metadata FROM runs r LEFT JOIN samples s ON s.id = r.sample_id")
# Listing without the documents: no start document to copy out of every row, and no
# sample columns (SQLite then leaves the join out unless a filter names the sample).
_LISTED = ("SELECT r.uid, r.plan_name, r.scan_id, r.time_start, NULL, r.sample_id, NULL, "
           "NULL FROM runs r LEFT JOIN samples s ON s.id = r.sample_id")
_ORDER = newest_first(BEAMTIME_COLUMNS)
_SHOWN = 20


class StoredRun(NamedTuple):
    """The ``runs`` row of one run, with its sample.

    A named tuple (immutable): listing 10,000 runs makes 10,000 of them, and a
    frozen dataclass cost ~8 us each to build against ~0.5 us.

    Attributes
    ----------
    uid : str
        The run's uid.
    plan_name : str or None
        The plan's name.
    scan_id : int or None
        The start document's ``scan_id``.
    time_start : float or None
        Unix time of the start.
    metadata : str or None
        The start document, as stored (JSON); None when the run was listed
        without it (``select_runs(..., documents=False)``): then the sample's
        name and metadata are None too, and :func:`find_run` with the uid
        reads them all.
    sample_id : int or None
        The sample's row.
    sample_name : str or None
        The sample's name.
    sample_metadata : str or None
        The sample's metadata, as stored (JSON).
    """

    uid: str
    plan_name: str | None
    scan_id: int | None
    time_start: float | None
    metadata: str | None
    sample_id: int | None
    sample_name: str | None
    sample_metadata: str | None


def select_runs(
    reader: BeamtimeReader,
    filters: RunFilter = ALL_RUNS,
    *,
    limit: int | None = None,
    documents: bool = True,
) -> list[StoredRun]:
    """Return the runs matching every filter given, newest first.

    Parameters
    ----------
    reader : BeamtimeReader
        The open beamtime.
    filters : RunFilter, optional
        Which runs; default every run.
    limit : int, optional
        At most this many runs.
    documents : bool, optional
        Read each run's start document and sample too (default). ``False``
        reads only the columns a listing shows (``metadata``,
        ``sample_name`` and ``sample_metadata`` are None): listing 10,000
        runs then copies ~1 MB rather than every start document.

    Returns
    -------
    list of StoredRun

    Raises
    ------
    ValueError
        For a filter that cannot be used (:class:`FilterError`).
    """
    clause, params = filters.clause(reader.filter_columns)
    sql = f"{_SELECT if documents else _LISTED}{clause} {_ORDER}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return list(map(StoredRun._make, reader.rows(sql, params)))


def count_runs(reader: BeamtimeReader) -> int:
    """Return how many runs the beamtime holds."""
    return int(reader.rows("SELECT count(*) FROM runs")[0][0])


def find_run(reader: BeamtimeReader, key: str | int) -> StoredRun:
    """Return the one run a key names: uid, ``-N``, scan_id or unique uid prefix.

    Parameters
    ----------
    reader : BeamtimeReader
        The open beamtime.
    key : str or int
        See the module's reading of run keys.

    Returns
    -------
    StoredRun

    Raises
    ------
    KeyError
        If no run, or more than one, matches (:class:`RunLookupError`,
        listing the candidates).
    TypeError
        If ``key`` is neither a str nor an int.
    """
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise TypeError(f"look runs up by uid, uid prefix, scan_id or -N, not {key!r}")
    what = f"uid {key!r}"
    if isinstance(key, str):
        if not key:
            raise RunLookupError(f"an empty uid matches every run in {reader.path}")
        rows = reader.rows(f"{_SELECT} WHERE r.uid = ?", (key,))
        if rows:
            return StoredRun(*rows[0])
        if re.fullmatch(r"-[0-9]{1,18}", key):
            key = int(key)
        elif key.isdigit() and key.isascii() and len(key) <= 18:
            found = select_runs(reader, RunFilter(scan_id=int(key)), limit=_SHOWN + 1)
            if found:
                return _one(found, f"scan_id {key}", reader)
            what = f"scan_id {key} or uid {key!r}"
    if isinstance(key, int):
        if key < 0:
            found = [StoredRun(*row) for row in reader.rows(
                f"{_SELECT} {_ORDER} LIMIT 1 OFFSET ?", (-key - 1,))]
            if not found:
                raise RunLookupError(
                    f"{reader.path} holds {count_runs(reader)} runs; no run {key}")
            return found[0]
        found = select_runs(reader, RunFilter(scan_id=key), limit=_SHOWN + 1)
        return _one(found, f"scan_id {key}", reader)
    found = [StoredRun(*row) for row in reader.rows(
        f"{_SELECT} WHERE r.uid >= ? AND r.uid < ? {_ORDER} LIMIT ?",
        (key, key + "\U0010ffff", _SHOWN + 1))]
    return _one(found, what, reader)


def _one(found: list[StoredRun], what: str, reader: BeamtimeReader) -> StoredRun:
    if len(found) == 1:
        return found[0]
    if not found:
        raise RunLookupError(f"no run matches {what} in {reader.path}")
    listed = ", ".join(f"{r.uid} (scan {'-' if r.scan_id is None else r.scan_id}, "
                       f"{r.plan_name or '-'})" for r in found[:_SHOWN])
    more = " and more" if len(found) > _SHOWN else ""
    raise RunLookupError(f"{what} is ambiguous in {reader.path}: it matches {listed}{more}")
