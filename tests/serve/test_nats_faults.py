"""Faults under ``serve --nats``: nothing lost, nothing stored twice.

Each test publishes with a real RunEngine (ophyd.sim devices, frames) through
bluesky-nats while the fault happens, then waits until the service has
acknowledged every message, and compares the served beamtime with the one an
in-process callback wrote from the same documents: every row and every frame.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from bluesky import plan_stubs as bps
from bluesky.plans import count

from resonance_callback import RunWriterCallback

from .conftest import camera
from .runs import assert_served_as_local
from .servers import consumer_state, wait_acknowledged


def _publish(RE, sim, local, publisher, num: int, delay: float) -> None:  # noqa: N803
    RE.subscribe(local)
    RE.subscribe(publisher)
    RE(count([sim["det"], sim["img"]], num=3))  # an earlier, complete run
    RE(count([sim["det"], camera((256, 256)), sim["img"]], num=num, delay=delay))
    local.close()


@pytest.mark.parametrize("kills", [(0.3,), (0.9,), (0.6, 1.6)],
                         ids=["early", "mid-run", "twice"])
def test_service_killed_mid_run_and_restarted_loses_nothing_and_stores_nothing_twice(
        tmp_path: Path, RE, sim, publisher, nats_server, served,  # noqa: N803
        kills: tuple[float, ...]) -> None:
    service = served()
    killed: list[int] = []

    def killer() -> None:
        started = time.monotonic()
        for moment in kills:
            time.sleep(max(0.0, started + moment - time.monotonic()))
            service.kill()
            killed.append(service.proc.returncode)
            service.start(wait=False)

    thread = threading.Thread(target=killer)
    thread.start()
    _publish(RE, sim, RunWriterCallback(tmp_path / "local.db"), publisher, num=40, delay=0.04)
    thread.join()
    assert killed == [-9] * len(kills)
    wait_acknowledged(nats_server.url)
    assert service.terminate() == 0
    assert_served_as_local(tmp_path)


def test_sigterm_mid_run_drains_exits_0_and_a_restart_completes_the_run(
        tmp_path: Path, RE, sim, publisher, nats_server, served) -> None:  # noqa: N803
    service = served()
    codes: list[int] = []

    def stop_and_restart() -> None:
        time.sleep(0.8)
        codes.append(service.terminate())
        service.start(wait=False)

    thread = threading.Thread(target=stop_and_restart)
    thread.start()
    _publish(RE, sim, RunWriterCallback(tmp_path / "local.db"), publisher, num=40, delay=0.04)
    thread.join()
    assert codes == [0]
    assert "SIGTERM received: draining" in service.text()
    wait_acknowledged(nats_server.url)
    assert service.terminate() == 0
    assert_served_as_local(tmp_path)


def test_nats_server_restarted_mid_run_loses_nothing_and_stores_nothing_twice(
        tmp_path: Path, RE, sim, publisher, nats_server, served) -> None:  # noqa: N803
    service = served()
    local = RunWriterCallback(tmp_path / "local.db")
    RE.subscribe(local)
    RE.subscribe(publisher)
    cam, det = camera((128, 128)), sim["det"]

    def plan():
        yield from bps.open_run()
        for i in range(30):
            yield from bps.trigger_and_read([det, cam])
            if i in (10, 20):  # the server goes down and comes back mid-run
                nats_server.restart(down=0.5)
                publisher.wait_connected()
                service.wait_for("reconnected", count=1 + (i == 20))
        yield from bps.close_run()

    RE(plan())
    local.close()
    wait_acknowledged(nats_server.url)
    assert service.terminate() == 0
    assert service.text().count("reconnected") >= 2
    assert_served_as_local(tmp_path)


def test_publisher_faster_than_a_stalled_disk_makes_the_consumer_wait_and_loses_nothing(
        tmp_path: Path, RE, sim, publisher, nats_server, served) -> None:  # noqa: N803
    service = served()
    waiting: list[int] = []
    stalled = threading.Event()

    def stall_the_beamtime() -> None:
        # another process's write lock on the beamtime: the writer's commits wait on it
        conn = sqlite3.connect(tmp_path / "served.db", isolation_level=None, timeout=30)
        conn.execute("BEGIN IMMEDIATE")
        stalled.set()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            waiting.append(consumer_state(nats_server.url)["pending"])
            time.sleep(0.2)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=stall_the_beamtime)
    thread.start()
    stalled.wait(10)
    local = RunWriterCallback(tmp_path / "local.db")
    RE.subscribe(local)
    RE.subscribe(publisher)
    RE(count([sim["det"]], num=1500))
    local.close()
    thread.join()
    assert max(waiting) > 0  # messages waited on the server, not in the service's memory
    wait_acknowledged(nats_server.url)
    assert service.terminate() == 0
    assert_served_as_local(tmp_path)
