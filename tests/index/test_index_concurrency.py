from __future__ import annotations

import multiprocessing
from pathlib import Path

from resonance_callback import IndexWriter, reindex, search

from ..beamtime_fixture import synthetic_beamtime
from ..process_workers import reindex_until, replay_live, write_runs
from .conftest import index_count as count

CTX = multiprocessing.get_context("spawn")




def run_all(processes: list, results, timeout: float = 120) -> list[tuple]:
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=timeout) for _ in processes]
    for process in processes:
        process.join(timeout)
        assert process.exitcode == 0
    return outcomes


def test_four_processes_writing_one_new_index_lose_and_duplicate_nothing(
    tmp_path: Path, index_target: Path | str
) -> None:
    index, workers, n_runs = index_target, 4, 200
    barrier, results = CTX.Barrier(workers), CTX.Queue()
    processes = [CTX.Process(target=write_runs, args=(index, tmp_path, w, n_runs, barrier,
                                                      results)) for w in range(workers)]

    outcomes = run_all(processes, results)

    assert [error for _, error in outcomes if error] == []
    assert count(index, "SELECT count(*) FROM researchers") == 1
    assert count(index, "SELECT count(*) FROM beamtimes") == workers + 1
    assert count(index, "SELECT count(*) FROM runs") == workers * n_runs
    assert count(index, "SELECT count(DISTINCT uid) FROM runs") == workers * n_runs
    assert count(index, "SELECT count(*) FROM run_tags") == 2 * workers * n_runs
    assert count(index, "SELECT count(*) FROM runs WHERE exit_status = 'success' "
                        "AND time_stop > time_start") == workers * n_runs
    assert sum(run.num_events.get("primary", 0) for run in search(index)) == (
        workers * sum(range(n_runs)))
    for w in range(workers):
        assert len(search(index, tag=f"worker{w}")) == n_runs
        assert len(search(index, sample=f"S{w}", where={"worker": w})) == n_runs
    assert len(search(index, where={"i": 7})) == workers


def test_reindex_running_alongside_two_live_sessions_keeps_every_run(
    tmp_path: Path, index_target: Path | str
) -> None:
    index, n_runs = index_target, 200
    beamtimes = {name: tmp_path / f"{name}.db" for name in ("endstation-a", "endstation-b")}
    runs = {name: synthetic_beamtime(db, n_runs, t0=1.7e9 + 1e4 * k)
            for k, (name, db) in enumerate(beamtimes.items())}
    with IndexWriter(index) as writer:
        writer.ensure_schema()
    barrier, results, stop = CTX.Barrier(3), CTX.Queue(), CTX.Event()
    writers = [CTX.Process(target=replay_live, args=(index, tmp_path, db, runs[name], barrier,
                                                     results))
               for name, db in beamtimes.items()]
    reindexer = CTX.Process(target=reindex_until, args=(index, stop, barrier, results))
    for process in [*writers, reindexer]:
        process.start()
    outcomes = [results.get(timeout=120) for _ in writers]
    stop.set()
    outcomes.append(results.get(timeout=120))
    for process in [*writers, reindexer]:
        process.join(60)
        assert process.exitcode == 0

    assert [o for o in outcomes if o[0] != "reindex" and o[1] is not None] == []
    passes = dict(outcomes)["reindex"]
    assert isinstance(passes, int) and passes >= 1
    assert count(index, "SELECT count(*) FROM researchers") == 1
    assert count(index, "SELECT count(*) FROM beamtimes") == 2
    assert count(index, "SELECT count(*) FROM runs") == 2 * n_runs
    assert count(index, "SELECT count(*) FROM runs WHERE exit_status = 'success'") == 2 * n_runs
    assert count(index, "SELECT count(*) FROM run_tags") == 2 * 2 * n_runs
    live = search(index)
    assert reindex(index).ok
    assert search(index) == live
