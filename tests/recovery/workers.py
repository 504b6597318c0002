"""Process entry points for the recovery tests (importable by spawned children)."""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from resonance_callback.store import ExternalRow, RunWriter

DATA_KEYS = {"x": {"dtype": "number", "shape": [], "source": "sim"},
             "img": {"dtype": "array", "shape": [4, 4], "source": "sim", "external": "STORE"}}


def write_frames(writer: RunWriter, n: int, start: int = 0) -> None:
    """Write ``n`` events, each with one 4x4 frame."""
    for i in range(start, start + n):
        uid = writer.write_event({"x": i}, {"x": float(i)}, seq_num=i + 1)
        writer.write_image(uid, "img", np.full((4, 4), i, dtype=np.uint16))


def die_mid_run(db_path: Path, committed: int, uncommitted: int, frames: str | None = None,
                settle: float = 0.5) -> None:
    """Open run ``cut``, commit ``committed`` frames, write ``uncommitted`` more, then die.

    The process ends with ``os._exit``, so nothing is closed or committed: the
    uncommitted frames' chunk files are on disk (or, with ``frames`` an object-store
    URL, their full shards in the bucket) with no rows pointing at them. ``settle``
    seconds let the write threads put them there.
    """
    writer = RunWriter(db_path, None, commit_every=10**6, commit_interval=3600.0,
                       frames=frames)
    writer.open()
    writer.open_run("count", uid="cut")
    writer.open_stream("primary", DATA_KEYS)
    write_frames(writer, committed)
    writer.commit()
    write_frames(writer, uncommitted, start=committed)
    time.sleep(settle)
    os._exit(0)


def hold_run_open(db_path: Path, ready: Any, done: Any) -> None:
    """Open run ``live`` and keep writing it until ``done`` is set."""
    with RunWriter(db_path, None) as writer:
        writer.open_run("count", uid="live")
        writer.open_stream("primary", DATA_KEYS)
        write_frames(writer, 2)
        writer.commit()
        ready.set()
        done.wait(60)
        writer.close_run(uid="live")


def write_runs_with_datums(db_path: Path, worker: int, n_runs: int, barrier: Any,
                           results: Any) -> None:
    """Write ``n_runs`` runs of 5 events and 5 datums each, racing another process."""
    try:
        barrier.wait()
        with RunWriter(db_path, None, commit_every=3) as writer:
            for r in range(n_runs):
                run = writer.open_run("count", uid=f"w{worker}-r{r}")
                writer.open_stream("primary", {"x": DATA_KEYS["x"]})
                for i in range(5):
                    writer.record_external(ExternalRow(
                        "datum", f"w{worker}-r{r}-d{i}", run, {"datum_id": f"d{i}"}))
                    writer.write_event({"x": i}, {"x": 0.0}, seq_num=i + 1)
                writer.close_run(uid=run)
                time.sleep(0.01)  # let the other process take the write lock
        results.put((worker, None))
    except BaseException:
        results.put((worker, traceback.format_exc()))


def replay_file(path: Path, db_path: Path, barrier: Any, results: Any) -> None:
    """Replay ``path`` into ``db_path``, racing another process doing the same."""
    try:
        from resonance_callback.replay import replay

        barrier.wait()
        summary = replay(path, db_path)
        results.put((summary.error, summary.rejected))
    except BaseException:
        results.put((traceback.format_exc(), -1))


def open_new_beamtimes(root: Path, worker: int, n: int, barrier: Any, results: Any) -> None:
    """Open (then close) the beamtimes ``bt0.db`` .. ``bt{n-1}.db`` under ``root``, each in step.

    Every beamtime is new: the two workers create its database and its Zarr
    store at the same moment. Reports ``(worker, first traceback or None)``.
    """
    try:
        for i in range(n):
            barrier.wait(timeout=60)
            writer = RunWriter(root / f"bt{i}.db", None)
            writer.open()
            writer.close()
        results.put((worker, None))
    except BaseException:  # noqa: BLE001 - the parent asserts on the report
        results.put((worker, traceback.format_exc()))


def die_between_growing_and_committing(db_path: Path, docs: list[Any], committed: int) -> None:
    """Feed ``docs`` to a callback, committing after ``committed`` of them; die mid-commit.

    After the rest are fed, the frame store is flushed (its arrays grown to hold
    every frame, as a commit does first) and the process ends with ``os._exit``
    before the rows are committed: frames past the last commit, in the arrays.
    """
    import gc

    from resonance_callback import RunWriterCallback
    from resonance_callback.store._frames import FrameStore

    cb = RunWriterCallback(db_path, threaded=False, commit_every=10**6, commit_interval=3600.0)
    for name, doc in docs[:committed]:
        cb(name, doc)
    cb.flush()
    for name, doc in docs[committed:]:
        cb(name, doc)
    for frames in [obj for obj in gc.get_objects() if isinstance(obj, FrameStore)]:
        frames.flush()
    os._exit(0)
