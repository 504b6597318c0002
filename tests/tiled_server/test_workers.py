"""``serve-tiled --workers N`` over the master index on PostgreSQL: N processes, one port.

A real ``resonance-callback serve-tiled`` process with two uvicorn workers over a
real PostgreSQL index; Tiled clients read through it, and a worker SIGKILLed is
replaced while the others answer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..cli.test_index_cli import add_all
from ..serve.servers import free_port, wait_for_port
from .conftest import API_KEY, connected

BIN = Path(sys.executable).parent


def _workers(pid: int) -> set[int]:
    """The worker processes of the server ``pid`` (its children spawned by multiprocessing)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and "spawn_main" in (
                entry / "cmdline").read_bytes().decode(errors="replace"):
            found.add(int(entry.name))
    return found


def _wait_workers(pid: int, n: int, timeout: float = 60.0, gone: int | None = None) -> set[int]:
    """Wait until the server ``pid`` has ``n`` workers, none of them ``gone``."""
    deadline = time.monotonic() + timeout
    while len(found := _workers(pid)) != n or gone in found:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(found)} workers, not {n}, after {timeout} s")
        time.sleep(0.1)
    return found


@pytest.fixture
def served_by_workers(shared_site, postgres_server, tmp_path: Path) -> Iterator[tuple[str, int]]:
    url = postgres_server.new_database()
    add_all(shared_site, url)
    port = free_port()
    log = open(tmp_path / "serve-tiled.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(BIN / "resonance-callback"), "serve-tiled", url, "--workers",
                             "2", "--api-key", API_KEY, "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def test_two_workers_over_a_postgres_index_serve_the_runs_and_replace_a_killed_one(
        served_by_workers) -> None:
    base, pid = served_by_workers
    first = _wait_workers(pid, 2)
    with connected(base, api_key=API_KEY) as client:
        uids = list(client)
        assert len(uids) == 8
    killed = next(iter(first))
    os.kill(killed, signal.SIGKILL)
    replaced = _wait_workers(pid, 2, gone=killed) - first
    assert len(replaced) == 1
    for _ in range(6):  # every request answered, whichever worker takes it
        with connected(base, api_key=API_KEY) as client:
            assert list(client) == uids
            assert client[uids[0]]["primary"].read().sizes["time"] > 0


def test_workers_refuse_a_request_without_the_key(served_by_workers) -> None:
    import httpx

    base, pid = served_by_workers
    _wait_workers(pid, 2)
    for _ in range(4):
        assert httpx.get(f"{base}/api/v1/search/").status_code == 401
