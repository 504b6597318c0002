"""Faults under ``serve --nats``: nothing lost, nothing stored twice.

Each test publishes with a real RunEngine (ophyd.sim devices, frames) through
bluesky-nats while the fault happens, then waits until the service has
acknowledged every message, and compares the served beamtime with the one an
in-process callback wrote from the same documents: every row and every frame.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from bluesky.plans import count

from resonance_callback import RunWriterCallback
from resonance_callback.read import check_beamtime

from ..beamtime_dump import differences, dump_beamtime
from .conftest import camera
from .servers import wait_acknowledged


def _publish(RE, sim, local, publisher, num: int, delay: float) -> None:  # noqa: N803
    RE.subscribe(local)
    RE.subscribe(publisher)
    RE(count([sim["det"], sim["img"]], num=3))  # an earlier, complete run
    RE(count([sim["det"], camera((256, 256)), sim["img"]], num=num, delay=delay))
    local.close()


def _assert_same(tmp_path: Path) -> None:
    got, expected = dump_beamtime(tmp_path / "served.db"), dump_beamtime(tmp_path / "local.db")
    assert differences(got, expected) == {}
    assert expected["rejected_documents"] == []
    report = check_beamtime(tmp_path / "served.db")
    assert report.ok, report.lines()


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
    _assert_same(tmp_path)
