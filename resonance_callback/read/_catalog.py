"""``bt.search(query)``: the runs of a beamtime searched with Tiled's queries.

A search returns a :class:`RunCatalog`, a read-only mapping of uid to
:class:`~resonance_callback.read.Run`, newest first, that searches again
(``bt.search(q1).search(q2)`` keeps the runs matching both), as a Tiled
container does. Queries are those of :mod:`tiled.queries` (``Key``, ``Eq``,
``In``, ``Contains``, ``Regex``, comparisons, ``FullText``, ...) on the run's
metadata (:attr:`Run.metadata <resonance_callback.read.Run.metadata>`):
``Key("start.plan_name") == "scan"``, ``Key("stop.exit_status") == "success"``,
``Key("summary.timestamp") >= t0``. They mean what they mean everywhere in
this library: a beamtime's catalog searches again through the store's one
query engine (SQL over the runs, Python only where SQL cannot say it); a
catalog made of other runs tests each one (:func:`resonance_callback.store.metadata_matches`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from resonance_callback.store import metadata_matches

__all__ = ["RunCatalog", "run_metadata"]


def run_metadata(start: Mapping[str, Any], stop: Mapping[str, Any] | None,
                 stream_names: list[str], sample: str | None = None) -> dict[str, Any]:
    """Return a run's metadata as databroker 2 and Tiled lay it out.

    Parameters
    ----------
    start, stop : dict
        The start document; the stop document or None while open.
    stream_names : list of str
        The run's streams.
    sample : str, optional
        The sample's name, as stored (else the start's ``sample``).

    Returns
    -------
    dict
        ``{"start": ..., "stop": ..., "summary": ...}``.
    """
    t0 = start.get("time")
    t1 = stop.get("time") if stop else None
    if sample is None:
        sample = start.get("sample")
    if isinstance(sample, Mapping):
        sample = sample.get("name")
    t0 = t0 if isinstance(t0, int | float) else None
    t1 = t1 if isinstance(t1, int | float) else None
    summary = {
        "uid": start.get("uid"),
        "scan_id": start.get("scan_id"),
        "plan_name": start.get("plan_name"),
        "sample": sample,
        "timestamp": t0,
        "datetime": (_dt.datetime.fromtimestamp(t0, _dt.UTC).isoformat()
                     if t0 is not None else None),
        "exit_status": stop.get("exit_status") if stop else None,
        "duration": t1 - t0 if t0 is not None and t1 is not None else None,
        "stream_names": list(stream_names),
    }
    return {"start": dict(start), "stop": dict(stop) if stop else None, "summary": summary}


class RunCatalog(Mapping[str, Any]):
    """Runs found by a search: a read-only mapping of uid to run, newest first.

    Parameters
    ----------
    uids : list of str
        The runs, in order.
    get : callable
        ``get(uid)`` returns the run.
    metadata : callable
        ``metadata(uid)`` returns its metadata (``start``, ``stop``, ``summary``).
    select : callable, optional
        ``select(query, uids)`` returns the catalog of those runs matching the
        query, worked out by the store's query engine; without it each run's
        metadata is tested.
    """

    def __init__(self, uids: list[str], get: Callable[[str], Any],
                 metadata: Callable[[str], Mapping[str, Any]],
                 select: Callable[[Any, list[str]], RunCatalog] | None = None) -> None:
        self._uids = list(uids)
        self._get = get
        self._metadata = metadata
        self._select = select

    def search(self, query: Any) -> RunCatalog:
        """Return the runs of this catalog that match ``query`` too.

        Parameters
        ----------
        query : tiled.queries query
            E.g. ``Key("start.sample") == "Si"``, ``FullText("gold")``.

        Returns
        -------
        RunCatalog

        Raises
        ------
        ValueError
            For a query type that cannot be answered (:class:`FilterError`).
        """
        if self._select is not None:
            return self._select(query, self._uids)
        kept = [u for u in self._uids if metadata_matches(query, self._metadata(u))]
        return RunCatalog(kept, self._get, self._metadata)

    def __getitem__(self, uid: str) -> Any:
        if uid not in self._uids:
            matching = [u for u in self._uids if u.startswith(str(uid))]
            if len(matching) != 1:
                raise KeyError(f"no run {uid!r} among the {len(self._uids)} found")
            uid = matching[0]
        return self._get(uid)

    def __iter__(self) -> Iterator[str]:
        return iter(self._uids)

    def __len__(self) -> int:
        return len(self._uids)

    def __repr__(self) -> str:
        return f"<RunCatalog {len(self)} runs>"
