"""PostgreSQL restarted while writer processes index runs: they reconnect, nothing is lost."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from resonance_callback import IndexWriter, search

from ..postgres_server import PostgresServer, running_postgres
from ..process_workers import write_runs
from .conftest import index_count

CTX = multiprocessing.get_context("spawn")


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own, so restarting it disturbs no other test."""
    with running_postgres() as server:
        yield server


def test_postgres_restarted_while_runs_are_written_loses_nothing(
    tmp_path: Path, own_server: PostgresServer
) -> None:
    index, workers, n_runs = own_server.new_database(), 3, 300
    with IndexWriter(index) as writer:  # the schema, so the runs can be counted at once
        writer.ensure_schema()
    barrier, results = CTX.Barrier(workers + 1), CTX.Queue()
    processes = [CTX.Process(target=write_runs, args=(index, tmp_path, w, n_runs, barrier,
                                                      results)) for w in range(workers)]
    for process in processes:
        process.start()
    barrier.wait()
    deadline = time.monotonic() + 120
    while index_count(index, "SELECT count(*) FROM runs") < workers * 20:
        assert time.monotonic() < deadline, "the writers never got going"
        time.sleep(0.05)
    own_server.restart()  # every client's connection is cut; the server comes back
    restarted_at = index_count(index, "SELECT count(*) FROM runs")

    outcomes = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0

    assert [error for _, error in outcomes if error] == []
    assert restarted_at < workers * n_runs  # the restart came while runs were being written
    assert index_count(index, "SELECT count(*) FROM runs") == workers * n_runs
    assert index_count(index, "SELECT count(*) FROM runs WHERE exit_status = 'success'") == (
        workers * n_runs)
    assert index_count(index, "SELECT count(*) FROM run_tags") == 2 * workers * n_runs
    for w in range(workers):
        assert len(search(index, where={"worker": w})) == n_runs


def test_search_after_a_postgres_restart_finds_the_runs(
    tmp_path: Path, own_server: PostgresServer
) -> None:
    index = own_server.new_database()
    with IndexWriter(index) as writer:
        rid = writer.register_researcher("Alice", tmp_path)
        bid = writer.register_beamtime(rid, "bt", tmp_path / "bt.db")
        writer.index_run("r1", rid, bid, "count", time_start=1.0)
    assert [run.uid for run in search(index)] == ["r1"]  # its connection is kept
    own_server.restart()  # and cut by the restart
    assert [run.uid for run in search(index)] == ["r1"]
