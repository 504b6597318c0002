"""Dump a beamtime (SQLite + Zarr) into plain, comparable data.

``dump_beamtime(db)`` holds every row of every table and every frame array, so
two beamtimes are "identical" when their dumps are equal. Left out, because
they say when something happened on this machine rather than what the
documents hold:

* ``rejected_documents.id`` / ``time`` and ``unresolved_frames.id`` / ``time``;
* the ``time`` of ``derived`` events rows (made by the writer for a fly scan's
  frames, stamped when the stream_datum was received; their uid is derived
  from the stream and ``seq_num``, so it is compared).

JSON columns are compared as values (parsed, keys sorted); frames by dtype,
shape and a digest of every byte of the array.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import zarr


def canonical(text: str | None) -> str | None:
    return None if text is None else json.dumps(json.loads(text), sort_keys=True)


def _sorted(rows) -> list[tuple]:
    return sorted(rows, key=repr)  # NULLs beside values: order by text, never compare them


def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    return conn.execute(sql).fetchall()


def dump_beamtime(db_path: Path, zarr_path: Path | None = None) -> dict[str, Any]:
    """Every row and every frame of a beamtime, in a form that compares with ``==``."""
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dump = {
            "samples": _sorted((i, n, canonical(m)) for i, n, m in _rows(
                conn, "SELECT id, name, metadata FROM samples")),
            "runs": _sorted(
                (u, s, p, sc, t0, t1, st, r, canonical(md), canonical(stop))
                for u, s, p, sc, t0, t1, st, r, md, stop in _rows(
                    conn, "SELECT uid, sample_id, plan_name, scan_id, time_start, time_stop, "
                          "exit_status, reason, metadata, stop_document FROM runs")),
            "streams": _sorted(
                (u, r, n, t, canonical(k), canonical(c), canonical(d))
                for u, r, n, t, k, c, d in _rows(
                    conn, "SELECT uid, run_uid, name, time, data_keys, configuration, "
                          "document FROM streams")),
            "events": _sorted(
                (u, s, q, None if dv else t, canonical(d), canonical(ts), canonical(f), dv)
                for u, s, q, t, d, ts, f, dv in _rows(
                    conn, "SELECT uid, stream_uid, seq_num, time, data, timestamps, filled, "
                          "derived FROM events")),
            "image_refs": _sorted(_rows(
                conn, "SELECT event_uid, field_name, zarr_path, frame_index, compression_codec, "
                      "timestamp FROM image_refs")),
            "external_documents": _sorted(
                (n, u, r, o, canonical(d)) for n, u, r, o, d in _rows(
                    conn, "SELECT name, uid, run_uid, ordinal, document FROM external_documents")),
            "unresolved_frames": _sorted(_rows(
                conn, "SELECT run_uid, stream_uid, field_name, seq_num, reference, reason "
                      "FROM unresolved_frames")),
            "rejected_documents": _sorted(
                (r, n, u, why, canonical(d)) for r, n, u, why, d in _rows(
                    conn, "SELECT run_uid, name, uid, reason, document FROM rejected_documents")),
        }
    finally:
        conn.close()
    dump["arrays"] = dump_arrays(zarr_path or db_path.with_suffix(".zarr"))
    return dump


def dump_arrays(store: Path) -> dict[str, tuple[str, tuple[int, ...], str]]:
    """``{path: (dtype, shape, sha256 of the data)}`` for every array in the store."""
    if not store.exists():
        return {}
    group = zarr.open_group(str(store), mode="r")
    out = {}
    for path, array in _walk(group, ""):
        data = np.ascontiguousarray(array[...])
        out[path] = (str(data.dtype), data.shape, hashlib.sha256(data.tobytes()).hexdigest())
    return out


def _walk(group: zarr.Group, prefix: str):
    for name, member in group.members():
        path = f"{prefix}{name}"
        if isinstance(member, zarr.Array):
            yield path, member
        else:
            yield from _walk(member, f"{path}/")


def differences(got: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """Per table, the rows only in one dump (empty when the beamtimes are identical)."""
    out = {}
    for table in expected.keys() | got.keys():
        a, b = got.get(table), expected.get(table)
        if a == b:
            continue
        if isinstance(a, dict):
            keys = a.keys() | b.keys()
            out[table] = {k: (a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)}
        else:
            out[table] = {"only in got": [r for r in a if r not in b][:5],
                          "only in expected": [r for r in b if r not in a][:5]}
    return out
