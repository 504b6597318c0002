"""What a beamtime holds: the ``runs`` and ``show`` commands' data.

:func:`list_runs` lists stored runs (with the one run filter of
:mod:`resonance_callback.store`, newest first) and :func:`describe_run`
gathers everything about one run: its start document, streams with their
fields, event counts, frame arrays, rejected documents and unresolved frames.
Both open the database read-only and read it through the store's queries, so
they work on any beamtime, even one being written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from resonance_callback import jsoncodec
from resonance_callback._time import TimeLike
from resonance_callback.store import (
    STATUS_FILTERS,
    BeamtimeReader,
    RunFilter,
    RunOverview,
    codec_name,
    find_run,
    frame_stores,
    inspect_queries,
    run_overviews,
)

__all__ = ["STATUSES", "describe_run", "list_runs"]

#: Values of the ``status`` filter: the stored exit statuses, and ``open`` for none.
STATUSES = STATUS_FILTERS


def list_runs(
    db_path: Path | str,
    *,
    sample: str | None = None,
    plan: str | None = None,
    status: str | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    scan_id: int | None = None,
    tag: str | None = None,
    where: Mapping[str, Any] | None = None,
) -> list[RunOverview]:
    """List the stored runs that match every filter given, newest first.

    The filters mean what they mean for :meth:`Beamtime.runs
    <resonance_callback.read.Beamtime.runs>` and the master index's ``search``.

    Parameters
    ----------
    db_path : Path or str
        The beamtime database.
    sample, plan, tag : str, optional
        Sample name, plan name, or one of the start document's ``tags``;
        ``*``, ``?`` and ``[...]`` are wildcards (case-sensitive), a value
        without them matches exactly.
    status : str, optional
        One of :data:`STATUSES` (``open``: no exit status).
    since, until : str or float, optional
        Started at or after / before: a unix time or an ISO 8601 date or date
        and time (a bare ``until`` date includes that day).
    scan_id : int, optional
        The start document's ``scan_id``.
    where : mapping, optional
        Start-document keys (dotted for nested) and the value each must hold
        (or hold in a list).

    Returns
    -------
    list of RunOverview
        Newest (latest start) first. ``events`` counts every events row per
        stream, rows the writer derived (fly scans) included.

    Raises
    ------
    OSError
        If there is no database at ``db_path`` (:class:`StorageError`).
    sqlite3.DatabaseError
        If it is not a beamtime database.
    ValueError
        If a filter cannot be used: a time that is not one, a status not in
        :data:`STATUSES` (:class:`FilterError`).
    """
    with BeamtimeReader(db_path) as reader:
        return run_overviews(reader, RunFilter(
            sample=sample, plan=plan, exit_status=status, since=since, until=until,
            scan_id=scan_id, tag=tag, where=where))


def describe_run(db_path: Path | str, uid: str | int, *,
                 zarr_store: Path | str | None = None) -> dict[str, Any]:
    """Everything stored about one run, as JSON-able data.

    Parameters
    ----------
    db_path : Path or str
        The beamtime database.
    uid : str or int
        The run: a uid, a unique uid prefix, a scan_id or ``-N`` (the N-th
        newest), read as ``Beamtime[...]`` reads it.
    zarr_store : Path or str, optional
        The frame store; default ``{db stem}.zarr`` beside the database.

    Returns
    -------
    dict
        ``run`` (the runs row with the sample), ``start`` and ``stop`` (the
        documents), ``streams`` (per descriptor: name, uid, time, events,
        ``fields``: per data key its dtype, shape, source and where it is
        stored; ``dtype_differs`` when its frames are not of the declared
        ``dtype_numpy``), ``arrays`` (per Zarr array: field, frames referenced, shape,
        dtype, codec), ``rejected_documents`` and ``unresolved_frames``.

    Raises
    ------
    RunLookupError
        If no run, or more than one, matches ``uid``.
    """
    store = frame_stores.frames_location(db_path, zarr_store)
    with BeamtimeReader(db_path) as reader, reader.snapshot():
        uid = find_run(reader, uid).uid
        row = inspect_queries.run_detail(reader, uid)
        assert row is not None
        keys = ("uid", "scan_id", "plan_name", "sample", "time_start", "time_stop",
                "exit_status", "reason")
        out: dict[str, Any] = {"run": dict(zip(keys, row[:8], strict=True)),
                               "start": jsoncodec.loads(row[8]),
                               "stop": jsoncodec.loads(row[9])}
        arrays = _arrays(reader, uid, store)
        out["streams"] = _streams(reader, uid, arrays)
        out["arrays"] = list(arrays.values())
        out["rejected_documents"] = [
            dict(zip(("name", "uid", "reason"), r, strict=True))
            for r in inspect_queries.rejected_summaries(reader, uid)]
        out["unresolved_frames"] = [
            dict(zip(("stream", "field", "seq_num", "reference", "reason"), r[1:], strict=True))
            for r in inspect_queries.unresolved_rows(reader, uid)]
    return out


def _streams(reader: BeamtimeReader, run_uid: str, arrays: dict[str, dict[str, Any]]
             ) -> list[dict[str, Any]]:
    streams = []
    for uid, name, time, data_keys, events in inspect_queries.stream_details(reader, run_uid):
        framed = inspect_queries.framed_fields(reader, uid)
        fields = []
        for key, dk in (jsoncodec.loads(data_keys) or {}).items():
            dk = dk if isinstance(dk, dict) else {}
            stored = "frames" if key in framed else "inline"
            if dk.get("external"):
                stored = f"{stored} (from {str(dk['external']).rstrip(':')})"
            field = {"name": key, "dtype": dk.get("dtype"), "dtype_numpy": dk.get("dtype_numpy"),
                     "shape": dk.get("shape"), "source": dk.get("source"), "stored": stored}
            if key in framed:
                array = arrays.get(framed[key], {})
                field |= {"zarr_path": framed[key], "frame_dtype": array.get("dtype"),
                          "frame_shape": array.get("frame_shape"),
                          "dtype_differs": _differs(dk.get("dtype_numpy"), array.get("dtype"))}
            fields.append(field)
        streams.append({"name": name, "uid": uid, "time": time, "events": events,
                        "fields": fields})
    return streams


def _differs(declared: Any, stored: str | None) -> bool:
    """True if frames of numpy dtype ``stored`` are not of the ``dtype_numpy`` declared."""
    if not isinstance(declared, str) or stored is None:
        return False
    try:
        return bool(np.dtype(declared) != np.dtype(stored))
    except TypeError:  # a declaration numpy cannot read differs from any dtype
        return True


def _arrays(reader: BeamtimeReader, run_uid: str, store: Any) -> dict[str, dict[str, Any]]:
    """Per Zarr array of the run: the field, frames referenced, and the array's layout."""
    rows = inspect_queries.array_rows(reader, run_uid)
    group = None
    if rows:
        try:
            group = frame_stores.open_frames_group(store, writable=False)
        except (OSError, ValueError, KeyError):
            group = None
    out = {}
    for path, field, count, codec in rows:
        entry = {"path": path, "field": field, "frames": count, "shape": None, "dtype": None,
                 "frame_shape": None, "codec": codec, "problem": None}
        try:
            array = group[path] if group is not None else None
        except (KeyError, OSError, ValueError):
            array = None
        if isinstance(array, zarr.Array):
            entry |= {"shape": list(array.shape), "dtype": str(array.dtype),
                      "frame_shape": list(array.shape[1:]), "codec": codec_name(array)}
        else:
            entry["problem"] = f"no such array in {store}"
        out[path] = entry
    return out
