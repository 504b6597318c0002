"""Cut the Zarr arrays of ``interrupted`` runs back to their committed frames, links refused.

Only the beamtime's own files are touched: the store is walked from its folder
down, one real folder at a time (``lstat``, never following a link); a link
anywhere on the way (the store itself, a run's group, an array, its chunk folder,
a chunk beyond the committed frames) or a ``zarr.json`` that is not a regular file
is refused and reported, and the array behind it is left as it is. Chunk files are
removed through their folder's descriptor; one already gone (another repair, or a
writer opening, removed it) is not an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zarr

from resonance_callback.errors import StorageError
from resonance_callback.store._event_columns import array_key
from resonance_callback.store._repair_report import RepairReport, link_refusal
from resonance_callback.store._vocabulary import INTERRUPTED

__all__ = ["interrupted_runs", "trim_arrays"]

#: Bounds on a run's group walked for arrays: folder depth, and ``zarr.json`` size.
MAX_DEPTH = 16
MAX_METADATA_BYTES = 1 << 20

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _real_dir(path: Path, report: RepairReport) -> bool:
    """Whether ``path`` is a folder (not a link to one); a link is refused."""
    st = _lstat(path)
    if st is None:
        return False
    if stat.S_ISLNK(st.st_mode):
        report.refuse(path, link_refusal(path))
        return False
    return stat.S_ISDIR(st.st_mode)


def trim_arrays(conn: sqlite3.Connection, store: Path, report: RepairReport,
                runs: list[str] | None = None) -> None:
    """Cut the arrays of ``interrupted`` runs back to the frames their rows point at.

    Parameters
    ----------
    conn : sqlite3.Connection
        A connection to the beamtime.
    store : Path
        The Zarr store's directory; nothing is done when it does not exist, and a
        link there is refused (reported in ``report``), never followed.
    report : RepairReport
        Filled with the arrays trimmed, the chunk files removed and what was refused.
    runs : list of str, optional
        The runs to trim; default every ``interrupted`` one.

    Raises
    ------
    OSError
        If an array cannot be changed (:class:`StorageError`).
    """
    st = _lstat(store)
    if st is None:
        return
    runs = interrupted_runs(conn) if runs is None else runs
    if not runs:
        return
    if stat.S_ISLNK(st.st_mode):
        report.refuse(store, link_refusal(store) + "; give the store's own path with --zarr")
        return
    if not stat.S_ISDIR(st.st_mode):
        report.refuse(store, "is not a folder, so not a Zarr store")
        return
    if not _real_dir(store / "runs", report):
        return
    for uid in runs:
        key = array_key(uid)
        if key in (".", "..") or "\0" in key or not _real_dir(store / "runs" / key, report):
            continue  # such a run has no arrays of its own
        for name, folder in _array_dirs(store / "runs" / key, "", 0, report):
            path = f"runs/{key}/{name}"
            found = conn.execute("SELECT max(frame_index) FROM image_refs WHERE zarr_path = ?",
                                 (path,)).fetchone()[0]
            _trim(store, path, folder, 0 if found is None else found + 1, report)


def interrupted_runs(conn: sqlite3.Connection) -> list[str]:
    """The uids of the beamtime's ``interrupted`` runs, oldest first."""
    return [uid for (uid,) in conn.execute(
        "SELECT uid FROM runs WHERE exit_status = ? ORDER BY time_start", (INTERRUPTED,))]


def _metadata(folder: Path, report: RepairReport) -> dict[str, Any] | None:
    """The folder's ``zarr.json`` (a regular file of bounded size), or None."""
    path = folder / "zarr.json"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        report.refuse(path, link_refusal(path) if os.path.islink(path) else "cannot be read")
        return None
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_METADATA_BYTES:
            report.refuse(path, "is not a regular file of at most 1 MiB")
            return None
        try:
            meta = json.loads(file.read(MAX_METADATA_BYTES))
        except ValueError:
            return None
    return meta if isinstance(meta, dict) else None


def _array_dirs(folder: Path, prefix: str, depth: int, report: RepairReport
                ) -> Iterator[tuple[str, Path]]:
    """``(path under the run, folder)`` of every array below ``folder``, links refused."""
    if depth > MAX_DEPTH:
        return
    with os.scandir(folder) as entries:
        children = sorted(entry.name for entry in entries)
    for name in children:
        child = folder / name
        if not _real_dir(child, report):
            continue
        meta = _metadata(child, report)
        if meta is None:
            continue
        if meta.get("node_type") == "array":
            shape = meta.get("shape")
            if isinstance(shape, list) and shape:
                yield f"{prefix}{name}", child
        elif meta.get("node_type") == "group":
            yield from _array_dirs(child, f"{prefix}{name}/", depth + 1, report)


def _ignore_missing(func: Any, path: str, exc_info: Any) -> None:
    if not isinstance(exc_info[1], FileNotFoundError):
        raise exc_info[1]


def _remove_orphans(chunks: Path, keep: int, report: RepairReport) -> bool:
    """Remove chunk entries ``keep`` and beyond; False if one of them was refused."""
    try:
        fd = os.open(chunks, _DIR_FLAGS)
    except FileNotFoundError:
        return True
    except OSError as exc:
        if os.path.islink(chunks):
            report.refuse(chunks, link_refusal(chunks))
            return False
        raise StorageError(f"cannot open chunk folder {chunks}: {exc}") from exc
    clean = True
    try:
        with os.scandir(fd) as scan:
            entries = [(e.name, e.is_symlink(), e.is_dir(follow_symlinks=False)) for e in scan
                       if e.name.isascii() and e.name.isdigit() and int(e.name) >= keep]
        for name, is_link, is_dir in entries:
            if is_link:
                report.refuse(chunks / name, link_refusal(chunks / name))
                clean = False
                continue
            try:
                if is_dir:
                    shutil.rmtree(name, onerror=_ignore_missing, dir_fd=fd)
                else:
                    os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                continue  # removed by another repair meanwhile
            except OSError as exc:
                raise StorageError(f"cannot remove orphan chunk {chunks / name}: {exc}"
                                   ) from exc
            report.orphan_chunks += 1
    finally:
        os.close(fd)
    return clean


def _trim(store: Path, path: str, folder: Path, keep: int, report: RepairReport) -> None:
    if not _remove_orphans(folder / "c", keep, report):
        return  # resizing would make zarr delete the refused chunks through their links
    try:
        array = zarr.open_array(str(folder), mode="r+")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        report.refuse(folder, f"cannot be opened as a Zarr array ({exc})")
        return
    length = array.shape[0]
    if length > keep:
        try:
            with contextlib.suppress(FileNotFoundError):
                array.resize((keep, *array.shape[1:]))
        except OSError as exc:
            raise StorageError(f"cannot trim array {path} in {store}: {exc}") from exc
        report.trimmed.append({"zarr_path": path, "from": length, "to": keep})
