"""Recovery after a crash: mark runs cut off as ``interrupted``, trim their Zarr arrays.

A writer killed mid-run leaves its run with ``exit_status`` NULL and, in the Zarr
store, frames written after its last commit (chunk files beyond the array's shape, or
an array longer than the rows that point into it). :func:`repair_beamtime` (the
``repair`` command, and the same work when a writer opens a beamtime) finds every run
left open by a writer that is no longer alive (:mod:`~resonance_callback.store._liveness`),
marks it ``interrupted``, trims each of its arrays to the frames committed rows point at
and removes the chunk files beyond. Running it again finds nothing more to do.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import zarr

from resonance_callback._sqlite import connect, transaction
from resonance_callback.errors import StorageError
from resonance_callback.store._events import array_key
from resonance_callback.store._liveness import WriterLock, lock_dir, writer_alive
from resonance_callback.store._vocabulary import INTERRUPTED

__all__ = ["RepairReport", "mark_interrupted", "register_writer", "repair_beamtime",
           "trim_arrays"]


@dataclass
class RepairReport:
    """What :func:`repair_beamtime` did; every list is empty when there was nothing to do.

    Attributes
    ----------
    db_path, zarr_path : str
        What was repaired.
    interrupted : list of str
        Uids of the runs marked ``interrupted`` now.
    trimmed : list of dict
        ``{"zarr_path", "from", "to"}`` per array cut back to its committed frames.
    orphan_chunks : int
        Chunk files removed (frames written after the last commit).
    """

    db_path: str
    zarr_path: str
    interrupted: list[str] = field(default_factory=list)
    trimmed: list[dict[str, Any]] = field(default_factory=list)
    orphan_chunks: int = 0

    @property
    def changed(self) -> bool:
        """Whether anything was repaired."""
        return bool(self.interrupted or self.trimmed or self.orphan_chunks)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return {"changed": self.changed, **asdict(self)}

    def lines(self) -> list[str]:
        """The report as text lines for a terminal."""
        out = [f"{self.db_path} (frames in {self.zarr_path})",
               f"runs marked interrupted: {len(self.interrupted)}"]
        out += [f"  run {uid}" for uid in self.interrupted]
        out.append(f"arrays trimmed to their committed frames: {len(self.trimmed)}")
        out += [f"  {t['zarr_path']}: {t['from']} -> {t['to']} frame(s)" for t in self.trimmed]
        out.append(f"orphan chunk files removed: {self.orphan_chunks}")
        out.append("repaired" if self.changed else "nothing to repair")
        return out


def mark_interrupted(conn: sqlite3.Connection, db_path: Path) -> list[str]:
    """Mark every run left open by a writer that is gone ``interrupted``; return their uids.

    Also forgets the ``writers`` rows of writers that are gone, and their lock files.

    Parameters
    ----------
    conn : sqlite3.Connection
        A writable connection to the beamtime (schema version 2 or later).
    db_path : Path
        The beamtime database, whose lock files tell which writers live.

    Returns
    -------
    list of str
        The runs marked now, oldest first.
    """
    marked = []
    with transaction(conn):
        writers = {token: (pid, host) for token, pid, host in
                   conn.execute("SELECT token, pid, host FROM writers")}
        alive = {token: writer_alive(db_path, token) for token in writers}
        for uid, token in conn.execute(
                "SELECT uid, writer FROM runs WHERE exit_status IS NULL ORDER BY time_start"
        ).fetchall():
            if token is not None and alive.get(token, writer_alive(db_path, token)):
                continue
            pid, host = writers.get(token, (None, None))
            who = f"writer pid {pid} on {host}" if pid is not None else "its writer"
            reason = (f"{who} stopped before the run's stop document "
                      f"(marked {time.strftime('%Y-%m-%dT%H:%M:%S')})")
            conn.execute("UPDATE runs SET exit_status = ?, reason = ? "
                         "WHERE uid = ? AND exit_status IS NULL", (INTERRUPTED, reason, uid))
            marked.append(uid)
        dead = [token for token, live in alive.items() if not live]
        conn.executemany("DELETE FROM writers WHERE token = ?", [(t,) for t in dead])
    for token in dead:
        try:
            (lock_dir(db_path) / f"{token}.lock").unlink()
        except OSError:
            pass
    return marked


def trim_arrays(conn: sqlite3.Connection, store: Path, report: RepairReport) -> None:
    """Cut the arrays of ``interrupted`` runs back to the frames their rows point at.

    Parameters
    ----------
    conn : sqlite3.Connection
        A connection to the beamtime.
    store : Path
        The Zarr store's directory; nothing is done when it does not exist.
    report : RepairReport
        Filled with the arrays trimmed and the chunk files removed.

    Raises
    ------
    OSError
        If an array cannot be changed (:class:`StorageError`).
    """
    if not store.is_dir():
        return
    runs = [uid for (uid,) in conn.execute(
        "SELECT uid FROM runs WHERE exit_status = ? ORDER BY time_start", (INTERRUPTED,))]
    if not runs:
        return
    try:
        root = zarr.open_group(str(store), mode="r+")
    except (OSError, ValueError, KeyError) as exc:
        raise StorageError(f"cannot open Zarr store {store}: {exc}") from exc
    for uid in runs:
        key = array_key(uid)
        if key in (".", "..") or "\0" in key or not (store / "runs" / key).is_dir():
            continue  # such a run has no arrays of its own
        try:
            group = root[f"runs/{key}"]
        except KeyError:
            continue
        if not isinstance(group, zarr.Group):
            continue
        for name, array in _arrays(group):
            path = f"runs/{key}/{name}"
            found = conn.execute("SELECT max(frame_index) FROM image_refs WHERE zarr_path = ?",
                                 (path,)).fetchone()[0]
            _trim(store, path, array, 0 if found is None else found + 1, report)


def _arrays(group: zarr.Group) -> list[tuple[str, zarr.Array]]:
    """Every array under ``group`` (any depth), with its path relative to the group."""
    return [(name, node) for name, node in group.members(max_depth=None)
            if isinstance(node, zarr.Array) and node.ndim]


def _trim(store: Path, path: str, array: zarr.Array, keep: int, report: RepairReport) -> None:
    chunks = store / path / "c"
    removed = 0
    if chunks.is_dir():
        for entry in os.listdir(chunks):
            if entry.isdigit() and int(entry) >= keep:
                target = chunks / entry
                try:
                    shutil.rmtree(target) if target.is_dir() else target.unlink()
                except OSError as exc:
                    raise StorageError(f"cannot remove orphan chunk {target}: {exc}") from exc
                removed += 1
    report.orphan_chunks += removed
    length = array.shape[0]
    if length > keep:
        try:
            array.resize((keep, *array.shape[1:]))
        except OSError as exc:
            raise StorageError(f"cannot trim array {path} in {store}: {exc}") from exc
        report.trimmed.append({"zarr_path": path, "from": length, "to": keep})


def repair_beamtime(db_path: Path | str, *, zarr_store: Path | str | None = None) -> RepairReport:
    """Recover a beamtime after a crash; safe to run any time, again and again.

    Parameters
    ----------
    db_path : Path or str
        The beamtime SQLite file (upgraded to the current schema if older).
    zarr_store : Path or str, optional
        The frame store; default ``{db stem}.zarr`` beside the database.

    Returns
    -------
    RepairReport
        The runs marked ``interrupted``, the arrays trimmed, the chunk files removed.

    Raises
    ------
    OSError
        If the database does not exist or a file cannot be changed (:class:`StorageError`).
    sqlite3.DatabaseError
        If the file is not a beamtime database (:class:`NotABeamtimeError`).
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise StorageError(f"no beamtime database at {db_path}")
    store = Path(zarr_store) if zarr_store is not None else db_path.with_suffix(".zarr")
    report = RepairReport(str(db_path), str(store))
    conn = connect(db_path, "beamtime")
    try:
        report.interrupted = mark_interrupted(conn, db_path)
        trim_arrays(conn, store, report)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot repair {db_path}: {exc}") from exc
    finally:
        conn.close()
    return report


def register_writer(conn: sqlite3.Connection, db_path: Path, frames: Any) -> WriterLock:
    """What a writer does when it opens a beamtime: repair, then register itself.

    Runs left open by writers that are gone are marked ``interrupted`` and (for a
    Zarr store in a folder) their arrays trimmed, as :func:`repair_beamtime` does;
    then the writer takes its lock and its ``writers`` row, so its own runs are
    known to be live until it closes.

    Parameters
    ----------
    conn : sqlite3.Connection
        The writer's connection.
    db_path : Path
        The beamtime database.
    frames : FrameStore
        The writer's frame store (its folder, if it has one, is trimmed).

    Returns
    -------
    WriterLock
        To release when the writer closes.
    """
    location = getattr(frames, "_location", None)
    report = RepairReport(str(db_path), str(location))
    if mark_interrupted(conn, db_path) and location is not None:
        trim_arrays(conn, Path(location), report)
    return WriterLock(conn, db_path)
