from __future__ import annotations

import multiprocessing
from pathlib import Path

from resonance_callback import _sqlite as schema

from ..process_workers import connect_each

CTX = multiprocessing.get_context("spawn")


def test_processes_creating_one_database_at_once_all_succeed(tmp_path: Path) -> None:
    """Eight processes open each of 30 new files together (the race shows in a few rounds)."""
    kind, n_processes = "index", 8
    paths = [tmp_path / f"{kind}-{i}.db" for i in range(30)]
    barrier, results = CTX.Barrier(n_processes), CTX.Queue()
    processes = [CTX.Process(target=connect_each, args=(paths, kind, barrier, results))
                 for _ in range(n_processes)]
    for process in processes:
        process.start()
    errors = [error for _ in processes for error in results.get(timeout=120)]
    for process in processes:
        process.join(60)
    assert errors == []
    for path in paths:
        conn = schema.connect(path, kind, readonly=True)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.latest_version(kind)
        conn.close()
