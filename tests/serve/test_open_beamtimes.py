"""Beamtimes open at once are bounded: idle ones are closed, reopened on demand, runs go on."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from event_model import ComposeDescriptorBundle, ComposeRunBundle, compose_run

from resonance_callback.serve import BeamtimeRouter, DbTemplate

from .runs import publish_run, rejected_in, runs_in
from .servers import wait_acknowledged


def _router(root: Path, max_open: int) -> BeamtimeRouter:
    return BeamtimeRouter(template=DbTemplate("{beamline}/{proposal_id}.db", root),
                          max_open=max_open)


def _run_in_flight(router: BeamtimeRouter) -> tuple[ComposeRunBundle, ComposeDescriptorBundle]:
    """Start run "a" (beamline BL) with one event, through ``router``; its stop is to come."""
    a = compose_run(metadata={"beamline": "BL", "proposal_id": "a"})
    desc = a.compose_descriptor(name="primary", data_keys={
        "x": {"source": "sim", "dtype": "number", "shape": []}})
    router("start", a.start_doc)
    router("descriptor", desc.descriptor_doc)
    router("event", desc.compose_event(data={"x": 1.0}, timestamps={"x": 1.0}))
    return a, desc


def test_at_most_max_open_beamtimes_are_open_and_idle_ones_are_closed_first(
        tmp_path: Path) -> None:
    router = _router(tmp_path, max_open=2)
    a, desc = _run_in_flight(router)
    others = {}
    for name in "bcdef":  # complete runs, each to its own beamtime, while "a" is in flight
        others[name] = publish_run(router, beamline="BL", proposal_id=name)
        assert len(router.beamtimes) <= 2
        assert tmp_path / "BL" / "a.db" in router.beamtimes  # in flight: never the one closed
    router("event", desc.compose_event(data={"x": 2.0}, timestamps={"x": 1.0}))
    router("stop", a.compose_stop())
    router.close()
    assert router.beamtimes.closed >= 4 and router.failures == 0
    assert runs_in(tmp_path / "BL" / "a.db") == {a.start_doc["uid"]: ("success", 2)}
    for name, uid in others.items():
        assert runs_in(tmp_path / "BL" / f"{name}.db") == {uid: ("success", 3)}


def test_a_run_in_flight_whose_beamtime_is_closed_to_make_room_goes_on_when_it_reopens(
        tmp_path: Path) -> None:
    router = _router(tmp_path, max_open=1)
    a, desc = _run_in_flight(router)
    b = compose_run(metadata={"beamline": "BL", "proposal_id": "b"})
    router("start", b.start_doc)  # one beamtime at most: "a" closes with its run in flight
    assert router.beamtimes.paths() == [tmp_path / "BL" / "b.db"]
    router("event", desc.compose_event(data={"x": 2.0}, timestamps={"x": 1.0}))  # "a" reopens
    router("stop", a.compose_stop())
    router("stop", b.compose_stop())
    router.close()
    assert runs_in(tmp_path / "BL" / "a.db") == {a.start_doc["uid"]: ("success", 2)}
    assert runs_in(tmp_path / "BL" / "b.db") == {b.start_doc["uid"]: ("success", 0)}
    assert rejected_in(tmp_path / "BL" / "a.db") == []


@pytest.fixture
def fast_root(tmp_path: Path) -> Iterator[Path]:
    """A data root on tmpfs when this session may mount one (thousands of beamtimes, no fsync)."""
    root = tmp_path / "root"
    root.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2g", "tmpfs", str(root)],
                             capture_output=True).returncode == 0
    yield root
    if mounted and os.path.ismount(root):
        subprocess.run(["umount", "-l", str(root)], check=False)


def test_two_thousand_routing_values_are_served_within_a_low_descriptor_limit(
        fast_root: Path, publisher, nats_server, served) -> None:
    service = served("--db-template", "{beamline}/{proposal_id}.db", "--root", str(fast_root),
                     "--status-interval", "5", nofile=256)
    started = time.monotonic()
    uids = {f"p{i}": publish_run(publisher, events=1, beamline="BL", proposal_id=f"p{i}")
            for i in range(2000)}
    wait_acknowledged(nats_server.url, timeout=600)
    assert service.proc.poll() is None, service.text()[-3000:]
    assert len(os.listdir(f"/proc/{service.proc.pid}/fd")) < 256
    assert service.terminate() == 0
    assert time.monotonic() - started < 900  # bounded, generously
    for name, uid in uids.items():
        assert runs_in(fast_root / "BL" / f"{name}.db") == {uid: ("success", 1)}
    assert not (fast_root / "unrouted.db").exists()
