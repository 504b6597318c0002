"""Process entry points for the concurrency tests (importable by spawned children)."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from resonance_callback import IndexWriter, RunIndexer, reindex
from resonance_callback import _sqlite as schema


def write_runs(index: Path, root: Path, worker: int, n_runs: int, barrier: Any,
               results: Any) -> None:
    """Index ``n_runs`` runs, each start and end its own transaction, as a RunEngine would."""
    try:
        barrier.wait()
        writer = IndexWriter(index)
        rid = writer.register_researcher("Alice", root)
        own = writer.register_beamtime(rid, f"bt{worker}", root / f"bt{worker}.db")
        shared = writer.register_beamtime(rid, "shared", root / "shared.db")
        for i in range(n_runs):
            if i % 50 == 0:  # reconnect now and then, racing the others' connects
                writer.close()
            uid = f"w{worker}-{i:04d}"
            writer.index_run(uid, rid, own if i % 2 else shared, "count",
                             sample_name=f"S{worker}", time_start=1.7e9 + worker * 1e4 + i,
                             tags=["bulk", f"worker{worker}"], scan_id=i,
                             metadata={"worker": worker, "i": i})
            writer.finish_run(uid, time_stop=1.7e9 + worker * 1e4 + i + 0.5,
                              exit_status="success", num_events={"primary": i})
        writer.close()
        results.put((worker, None))
    except BaseException:
        results.put((worker, traceback.format_exc()))


def replay_live(index: Path, root: Path, db_path: Path, runs: list[dict[str, Any]],
                barrier: Any, results: Any) -> None:
    """Index the runs of one beamtime with a RunIndexer, as the callback will."""
    try:
        barrier.wait()
        failed = 0
        with RunIndexer(index, "Alice", root, db_path.stem, db_path) as indexer:
            for run in runs:
                failed += not indexer.run_started(run["start"], "S")
                failed += not indexer.run_stopped(run["stop"], run["num_events"])
        results.put((db_path.stem, f"{failed} updates failed" if failed else None))
    except BaseException:
        results.put((db_path.stem, traceback.format_exc()))


def reindex_until(index: Path, stop: Any, barrier: Any, results: Any) -> None:
    """Reindex over and over until ``stop`` is set; report how many passes ran."""
    try:
        barrier.wait()
        passes = 0
        while not stop.is_set() or passes == 0:
            if isinstance(index, str) or index.exists():
                report = reindex(index)
                assert report.ok, report.problems
                passes += 1
        results.put(("reindex", passes))
    except BaseException:
        results.put(("reindex", traceback.format_exc()))


def connect_each(paths: list[Path], kind: str, barrier: Any, results: Any) -> None:
    """Open each new database together with the other processes, one file per round."""
    errors = []
    for path in paths:
        barrier.wait()
        try:
            schema.connect(path, kind).close()
        except Exception as exc:  # collected, so every round still meets the barrier
            errors.append(f"{path.name}: {exc!r}")
    results.put(errors)
