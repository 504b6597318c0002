"""``repair`` on an object store: cut the arrays of ``interrupted`` runs back, remove orphans.

The object-store side of :mod:`._trim`. A writer killed mid-run may have put shards
past its last commit (frames no row references), and grown an array's metadata past
them. For each array of each ``interrupted`` run, the shard objects holding only frames
beyond those committed rows point at are removed (an array no row references loses
every shard) and the array's shape is cut back. Objects are listed under the run's own
prefix (``runs/<run>/``) of the beamtime's store only, and a metadata object larger
than :data:`MAX_METADATA_BYTES` or not JSON is refused, never parsed.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from resonance_callback.store._event_columns import array_key
from resonance_callback.store._frame_location import ObjectFrames, open_frames_group
from resonance_callback.store._repair_report import RepairReport
from resonance_callback.store._shards import STORE_ERRORS
from resonance_callback.store._trim import interrupted_runs

__all__ = ["trim_objects"]

#: What opening an array that is not one raises.
_OPEN_ERRORS: tuple[type[BaseException], ...] = (KeyError, ValueError, *STORE_ERRORS)

#: The largest ``zarr.json`` read while looking for arrays.
MAX_METADATA_BYTES = 1 << 20


def trim_objects(conn: sqlite3.Connection, url: str, report: RepairReport,
                 runs: list[str] | None = None) -> None:
    """Cut the arrays of ``interrupted`` runs in the object store at ``url`` to their rows.

    Parameters
    ----------
    conn : sqlite3.Connection
        A connection to the beamtime.
    url : str
        ``s3://bucket/prefix``, the beamtime's frames.
    report : RepairReport
        Gets the arrays trimmed and the objects removed (``orphan_chunks``).
    runs : list of str, optional
        The runs to trim; default every ``interrupted`` one.

    Raises
    ------
    OSError
        If the store cannot be listed or changed (:class:`StorageError` naming it).
    """
    runs = interrupted_runs(conn) if runs is None else runs
    if not runs:
        return
    objects = ObjectFrames(url)
    group = None
    for uid in runs:
        key = array_key(uid)
        if not key or "/" in key or key in (".", ".."):
            continue
        keys = objects.keys(f"runs/{key}/")
        for meta_key in sorted(k for k in keys if k.endswith("/zarr.json")):
            path = meta_key.removesuffix("/zarr.json")
            if not _is_array(objects, meta_key, report):
                continue
            found = conn.execute("SELECT max(frame_index) FROM image_refs WHERE zarr_path = ?",
                                 (path,)).fetchone()[0]
            keep = 0 if found is None else int(found) + 1
            if group is None:
                group = open_frames_group(url, writable=True)
            _trim(objects, group, path, keep, [k for k in keys if k.startswith(f"{path}/c/")],
                  report)


def _is_array(objects: ObjectFrames, meta_key: str, report: RepairReport) -> bool:
    data = objects.get(meta_key, MAX_METADATA_BYTES)
    try:
        meta = json.loads(data) if data is not None else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        report.refuse(f"{objects.url}/{meta_key}", "is not Zarr metadata of at most 1 MiB")
        return False
    shape = meta.get("shape")
    return meta.get("node_type") == "array" and isinstance(shape, list) and bool(shape)


def _trim(objects: ObjectFrames, group: Any, path: str, keep: int, shard_keys: list[str],
          report: RepairReport) -> None:
    try:
        array = group[path]
    except _OPEN_ERRORS as exc:
        report.refuse(f"{objects.url}/{path}", f"cannot be opened as a Zarr array ({exc})")
        return
    per_object = int(array.shards[0]) if array.shards is not None else 1
    orphans = []
    for key in shard_keys:
        first = key[len(path) + 3:].split("/", 1)[0]
        if first.isascii() and first.isdigit() and int(first) * per_object >= keep:
            orphans.append(key)
    objects.delete(orphans)
    report.orphan_chunks += len(orphans)
    length = array.shape[0]
    if length > keep:
        try:
            array.resize((keep, *array.shape[1:]))
        except STORE_ERRORS as exc:
            report.refuse(f"{objects.url}/{path}", f"cannot be trimmed ({exc})")
            return
        report.trimmed.append({"zarr_path": path, "from": length, "to": keep})
