"""Fixtures of the serve tests: a real nats-server with a stream, devices, the service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bluesky import RunEngine
from ophyd.sim import SynSignal

from .servers import NatsPublisher, NatsServer, ServeProcess, add_stream


class Camera(SynSignal):
    """An ophyd.sim signal of uint16 frames, declaring their numpy dtype as detectors do."""

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out[self.name]["dtype_numpy"] = "<u2"
        return out


def camera(shape: tuple[int, int] = (64, 48)) -> Camera:
    counter = iter(range(10**9))
    return Camera(func=lambda: np.full(shape, next(counter) % 65536, dtype=np.uint16),
                  name="cam")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    add_stream(server.url)
    yield server
    server.stop()


@pytest.fixture
def publisher(nats_server: NatsServer) -> Iterator[NatsPublisher]:
    pub = NatsPublisher(nats_server.url)
    yield pub
    pub.close()


@pytest.fixture
def RE() -> Iterator[RunEngine]:  # noqa: N802
    engine = RunEngine({})
    yield engine
    if engine.state != "idle":
        engine.halt()


@pytest.fixture
def served(tmp_path: Path, nats_server: NatsServer) -> Iterator[Any]:
    """Start ``serve --nats`` processes on demand; all are killed at the end."""
    procs: list[ServeProcess] = []

    def start(*extra: str, db: Path | None = None, wait: bool = True,
              nofile: int | None = None) -> ServeProcess:
        args = ["--nats", nats_server.url, "--stream", "bluesky", "--status-interval", "1",
                "--ack-wait", "2",
                *(["--db", str(db or tmp_path / "served.db")] if "--db-template" not in extra
                  else []), *extra]
        proc = ServeProcess(args, tmp_path / f"serve-{len(procs)}.log", nofile=nofile)
        procs.append(proc)
        return proc.start(wait=wait)

    yield start
    for proc in procs:
        proc.stop()
