"""What a beamtime holds, read with plain SQL: the ``runs`` and ``show`` commands.

:func:`list_runs` lists stored runs (with filters) and :func:`describe_run`
gathers everything about one run: its start document, streams with their
fields, event counts, frame arrays, rejected documents and unresolved frames.
Both open the database read-only and use only the schema contract (README,
"Schema contract"), so they work on any beamtime, even one being written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import zarr

from resonance_callback import jsoncodec
from resonance_callback._sqlite import connect
from resonance_callback._time import parse_time
from resonance_callback.errors import RunLookupError
from resonance_callback.store import STATUS_FILTERS, codec_name

__all__ = ["STATUSES", "RunRow", "describe_run", "find_run", "list_runs"]

#: Values of the ``status`` filter: the stored exit statuses, and ``open`` for none.
STATUSES = STATUS_FILTERS


@dataclass
class RunRow:
    """One stored run, as :func:`list_runs` returns it.

    Attributes
    ----------
    uid : str
        The full run uid.
    scan_id : int or None
        The start document's ``scan_id``.
    time_start, time_stop : float or None
        Unix times.
    plan_name, sample : str or None
        The plan and the sample's name.
    exit_status : str or None
        ``success``, ``aborted``, ``failed``, or None while open.
    events : dict of str to int
        Events per stream name, in the order the streams were opened.
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
    events: dict[str, int]
    frames: int

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-able data."""
        return asdict(self)


def list_runs(
    db_path: Path | str,
    *,
    sample: str | None = None,
    plan: str | None = None,
    status: str | None = None,
    since: str | float | None = None,
    until: str | float | None = None,
) -> list[RunRow]:
    """List the stored runs that match every filter given, oldest first.

    Parameters
    ----------
    db_path : Path or str
        The beamtime database.
    sample, plan : str, optional
        Sample or plan name; ``*``, ``?`` and ``[...]`` are wildcards
        (case-sensitive, SQLite ``GLOB``).
    status : str, optional
        One of :data:`STATUSES` (``open``: no exit status).
    since, until : str or float, optional
        Started at or after / before: a unix time or an ISO 8601 date or date
        and time (a bare ``until`` date includes that day).

    Returns
    -------
    list of RunRow
        The runs, ordered by start time.

    Raises
    ------
    OSError
        If there is no database at ``db_path`` (:class:`StorageError`).
    sqlite3.DatabaseError
        If it is not a beamtime database.
    IndexEntryError
        If ``since`` or ``until`` is not a time.
    ValueError
        If ``status`` is not one of :data:`STATUSES`.
    """
    clauses, params = [], []
    for column, pattern in (("sm.name", sample), ("r.plan_name", plan)):
        if pattern is not None:
            clauses.append(f"{column} GLOB ?")
            params.append(pattern)
    if status is not None:
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        clauses.append("r.exit_status IS NULL" if status == "open" else "r.exit_status = ?")
        params += [] if status == "open" else [status]
    if since is not None:
        clauses.append("r.time_start >= ?")
        params.append(parse_time(since))
    if until is not None:
        clauses.append("r.time_start < ?")
        params.append(parse_time(until, end_of_day=True))
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    runs = "runs r LEFT JOIN samples sm ON sm.id = r.sample_id"
    conn = connect(db_path, "beamtime", readonly=True)
    try:
        rows = conn.execute(
            f"SELECT r.uid, r.scan_id, r.time_start, r.time_stop, r.plan_name, sm.name, "
            f"r.exit_status FROM {runs} {where} ORDER BY r.time_start, r.rowid", params).fetchall()
        events: dict[str, dict[str, int]] = {}
        for run_uid, name, count in conn.execute(
                f"SELECT s.run_uid, s.name, count(e.uid) FROM {runs} JOIN streams s "
                f"ON s.run_uid = r.uid LEFT JOIN events e ON e.stream_uid = s.uid {where} "
                "GROUP BY s.run_uid, s.name ORDER BY min(s.rowid)", params):
            events.setdefault(run_uid, {})[name] = count
        frames = dict(conn.execute(
            f"SELECT s.run_uid, count(*) FROM {runs} JOIN streams s ON s.run_uid = r.uid "
            f"JOIN events e ON e.stream_uid = s.uid JOIN image_refs i ON i.event_uid = e.uid "
            f"{where} GROUP BY s.run_uid", params).fetchall())
    finally:
        conn.close()
    return [RunRow(*row, events=events.get(row[0], {}), frames=frames.get(row[0], 0))
            for row in rows]


def find_run(conn: Any, text: str) -> str:
    """Return the uid of the one stored run whose uid is ``text`` or starts with it.

    Parameters
    ----------
    conn : sqlite3.Connection
        An open beamtime database.
    text : str
        A whole uid, or its first characters (case-insensitive).

    Returns
    -------
    str
        The run's full uid.

    Raises
    ------
    RunLookupError
        If no run matches, or several do (the message lists them).
    """
    if conn.execute("SELECT 1 FROM runs WHERE uid = ?", (text,)).fetchone():
        return text
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    matches = [uid for (uid,) in conn.execute(
        "SELECT uid FROM runs WHERE uid LIKE ? ESCAPE '\\' ORDER BY time_start LIMIT 11",
        (escaped + "%",))]
    if not text or not matches:
        raise RunLookupError(f"no run with uid {text!r} or starting with it")
    if len(matches) > 1:
        shown = ", ".join(matches[:10]) + (", ..." if len(matches) > 10 else "")
        raise RunLookupError(f"uid prefix {text!r} is ambiguous: it matches {shown}")
    return matches[0]


def describe_run(db_path: Path | str, uid: str, *,
                 zarr_store: Path | str | None = None) -> dict[str, Any]:
    """Everything stored about one run, as JSON-able data.

    Parameters
    ----------
    db_path : Path or str
        The beamtime database.
    uid : str
        The run's uid, or a prefix of it matching no other run.
    zarr_store : Path or str, optional
        The frame store; default ``{db stem}.zarr`` beside the database.

    Returns
    -------
    dict
        ``run`` (the runs row with the sample), ``start`` and ``stop`` (the
        documents), ``streams`` (per descriptor: name, uid, time, events,
        ``fields``: per data key its dtype, shape, source and where it is
        stored), ``arrays`` (per Zarr array: field, frames referenced, shape,
        dtype, codec), ``rejected_documents`` and ``unresolved_frames``.

    Raises
    ------
    RunLookupError
        If no run, or more than one, matches ``uid``.
    """
    store = Path(zarr_store) if zarr_store is not None else Path(db_path).with_suffix(".zarr")
    conn = connect(db_path, "beamtime", readonly=True)
    try:
        uid = find_run(conn, uid)
        row = conn.execute(
            "SELECT r.uid, r.scan_id, r.plan_name, sm.name, r.time_start, r.time_stop, "
            "r.exit_status, r.reason, r.metadata, r.stop_document FROM runs r "
            "LEFT JOIN samples sm ON sm.id = r.sample_id WHERE r.uid = ?", (uid,)).fetchone()
        keys = ("uid", "scan_id", "plan_name", "sample", "time_start", "time_stop",
                "exit_status", "reason")
        out: dict[str, Any] = {"run": dict(zip(keys, row[:8], strict=True)),
                               "start": jsoncodec.loads(row[8]),
                               "stop": jsoncodec.loads(row[9])}
        arrays = _arrays(conn, uid, store)
        out["streams"] = _streams(conn, uid, arrays)
        out["arrays"] = list(arrays.values())
        out["rejected_documents"] = [dict(zip(("name", "uid", "reason"), r, strict=True)) for r in
                                     conn.execute("SELECT name, uid, reason FROM rejected_documents"
                                                  " WHERE run_uid = ? ORDER BY id", (uid,))]
        out["unresolved_frames"] = [
            dict(zip(("stream", "field", "seq_num", "reference", "reason"), r, strict=True))
            for r in conn.execute(
                "SELECT s.name, u.field_name, u.seq_num, u.reference, u.reason FROM "
                "unresolved_frames u LEFT JOIN streams s ON s.uid = u.stream_uid "
                "WHERE u.run_uid = ? ORDER BY u.id", (uid,))]
    finally:
        conn.close()
    return out


def _streams(conn: Any, run_uid: str, arrays: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    streams = []
    for uid, name, time, data_keys, events in conn.execute(
            "SELECT s.uid, s.name, s.time, s.data_keys, (SELECT count(*) FROM events e "
            "WHERE e.stream_uid = s.uid) FROM streams s WHERE s.run_uid = ? ORDER BY s.rowid",
            (run_uid,)).fetchall():
        framed = {field: path for field, path in conn.execute(
            "SELECT i.field_name, i.zarr_path FROM image_refs i JOIN events e "
            "ON e.uid = i.event_uid WHERE e.stream_uid = ? GROUP BY i.field_name", (uid,))}
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
                          "frame_shape": array.get("frame_shape")}
            fields.append(field)
        streams.append({"name": name, "uid": uid, "time": time, "events": events,
                        "fields": fields})
    return streams


def _arrays(conn: Any, run_uid: str, store: Path) -> dict[str, dict[str, Any]]:
    """Per Zarr array of the run: the field, frames referenced, and the array's layout."""
    rows = conn.execute(
        "SELECT i.zarr_path, i.field_name, count(*), min(i.compression_codec) FROM image_refs i "
        "JOIN events e ON e.uid = i.event_uid JOIN streams s ON s.uid = e.stream_uid "
        "WHERE s.run_uid = ? GROUP BY i.zarr_path ORDER BY min(i.rowid)", (run_uid,)).fetchall()
    group = None
    if rows:
        try:
            group = zarr.open_group(str(store), mode="r")
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
