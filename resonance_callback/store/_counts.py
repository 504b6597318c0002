"""What a beamtime holds per run: the events of a run, counted once, and run overviews.

The events of a run
-------------------
A run's events are counted here and nowhere else: **every** ``events`` row of
each stream, per stream name, rows the writer derived (``derived = 1``: a
fly scan's ``stream_datum`` rows, ophyd-async ``kickoff`` /
``collect_while_completing``) included. It is what ``Run.table(stream)``
shows, and what the ``runs``, ``show`` and ``check`` commands, ``reindex`` and
the live index report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.store._filter import ALL_RUNS, BEAMTIME_COLUMNS, RunFilter, newest_first
from resonance_callback.store._reader import BeamtimeReader

__all__ = ["RunOverview", "event_counts", "frame_counts", "run_overviews"]


def event_counts(reader: BeamtimeReader, run_uids: Iterable[str] | None = None,
                 stream: str | None = None) -> dict[str, dict[str, int]]:
    """Return the events of runs: per run uid, every events row counted per stream name.

    Parameters
    ----------
    reader : BeamtimeReader
        The open beamtime.
    run_uids : iterable of str, optional
        Only these runs (default: all).
    stream : str, optional
        Only the streams of this name (default: all).

    Returns
    -------
    dict of str to dict of str to int
        ``{run uid: {stream name: rows}}``, streams in the order they were
        opened; a stream with no rows counts 0; a run with no stream is absent.
    """
    sql = ("SELECT s.run_uid, s.name, count(e.uid) FROM streams s "
           "LEFT JOIN events e ON e.stream_uid = s.uid")
    params: list[Any] = []
    if run_uids is not None:
        sql += " WHERE s.run_uid IN (SELECT value FROM json_each(?))"
        params.append(jsoncodec.dumps(list(run_uids)))
    if stream is not None:
        sql += (" AND" if params else " WHERE") + " s.name = ?"
        params.append(stream)
    counts: dict[str, dict[str, int]] = {}
    for run_uid, name, n in reader.rows(
            sql + " GROUP BY s.run_uid, s.name ORDER BY min(s.rowid)", params):
        counts.setdefault(run_uid, {})[name] = n
    return counts


def frame_counts(reader: BeamtimeReader, run_uids: Iterable[str] | None = None
                 ) -> dict[str, int]:
    """Return the frames stored per run uid (``image_refs`` rows); runs with none are absent."""
    sql = ("SELECT s.run_uid, count(*) FROM streams s JOIN events e ON e.stream_uid = s.uid "
           "JOIN image_refs i ON i.event_uid = e.uid")
    params: list[Any] = []
    if run_uids is not None:
        sql += " WHERE s.run_uid IN (SELECT value FROM json_each(?))"
        params.append(jsoncodec.dumps(list(run_uids)))
    return {uid: n for uid, n in reader.rows(sql + " GROUP BY s.run_uid", params)}


@dataclasses.dataclass(frozen=True)
class RunOverview:
    """One run's row, sample, event counts and frames.

    Attributes
    ----------
    uid : str
        The run's uid.
    scan_id : int or None
        The start document's ``scan_id``.
    time_start, time_stop : float or None
        Unix times; ``time_stop`` is None while the run is open.
    plan_name, sample : str or None
        The plan and the sample's name.
    exit_status : str or None
        ``success``, ``aborted``, ``failed``, or None while open.
    metadata : str
        The start document as stored (JSON).
    events : dict of str to int
        The events of the run per stream name (see the module).
    frames : int
        Frames stored (``image_refs`` rows).
    """

    uid: str
    scan_id: int | None
    time_start: float | None
    time_stop: float | None
    plan_name: str | None
    sample: str | None
    exit_status: str | None
    metadata: str
    events: dict[str, int]
    frames: int

    def to_dict(self) -> dict[str, Any]:
        """The overview as JSON-able data, without the start document."""
        out = dataclasses.asdict(self)
        del out["metadata"]
        return out


def run_overviews(reader: BeamtimeReader, filters: RunFilter = ALL_RUNS) -> list[RunOverview]:
    """Return an overview of every run matching the filters, newest first, read in one snapshot.

    Parameters
    ----------
    reader : BeamtimeReader
        The open beamtime.
    filters : RunFilter, optional
        Which runs; default every run.

    Returns
    -------
    list of RunOverview

    Raises
    ------
    ValueError
        For a filter that cannot be used (:class:`FilterError`).
    """
    clause, params = filters.clause(reader.filter_columns)
    filtered = bool(clause)
    with reader.snapshot():
        rows = reader.rows(
            "SELECT r.uid, r.scan_id, r.time_start, r.time_stop, r.plan_name, s.name, "
            "r.exit_status, r.metadata FROM runs r LEFT JOIN samples s ON s.id = r.sample_id"
            f"{clause} {newest_first(BEAMTIME_COLUMNS)}", params)
        uids = [row[0] for row in rows] if filtered else None
        events = event_counts(reader, uids)
        frames = frame_counts(reader, uids)
    return [RunOverview(uid, scan, t0, t1, plan, sample, status, metadata,
                        events=events.get(uid, {}), frames=frames.get(uid, 0))
            for uid, scan, t0, t1, plan, sample, status, metadata in rows]
