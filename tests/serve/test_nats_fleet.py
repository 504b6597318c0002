"""``serve --nats`` past one machine: a 3-node JetStream cluster, and standbys on one durable.

A real 3-node nats-server cluster (stream and lease bucket replicated on all
three) on 127.0.0.1; documents from a real RunEngine, published as bluesky-nats
publishes them by a publisher that retries while the cluster elects a new
stream leader (bluesky-nats' own raises into the scan then).
Each test compares the served beamtime with the one an in-process callback
wrote from the same documents: every row and every frame, nothing twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bluesky.plans import count

from resonance_callback import RunWriterCallback

from .conftest import camera
from .runs import assert_served_as_local
from .servers import (
    NatsCluster,
    RetryingPublisher,
    ServeProcesses,
    add_stream,
    stream_leader,
    wait_acknowledged,
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    nodes = NatsCluster(tmp_path / "cluster")
    nodes.start()
    deadline = time.monotonic() + 30
    while True:  # the stream needs a leader among the three
        try:
            add_stream(nodes.url, replicas=3)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    yield nodes
    nodes.stop()


@pytest.fixture
def cluster_publisher(cluster: NatsCluster) -> Iterator[RetryingPublisher]:
    pub = RetryingPublisher(cluster.url)
    yield pub
    pub.close()


@pytest.fixture
def serve_cluster(tmp_path: Path, cluster: NatsCluster) -> Iterator[ServeProcesses]:
    procs = ServeProcesses(tmp_path, "--nats", cluster.url, "--stream", "bluesky",
                           "--status-interval", "1", "--ack-wait", "2",
                           "--db", str(tmp_path / "served.db"))
    yield procs
    procs.stop()


def _publish(RE: Any, sim: dict[str, Any], local: RunWriterCallback,  # noqa: N803
             publisher: RetryingPublisher) -> None:
    RE.subscribe(local)
    RE.subscribe(publisher)
    RE(count([sim["det"], sim["img"]], num=3))
    RE(count([sim["det"], camera((128, 128)), sim["img"]], num=40, delay=0.04))
    local.close()


def test_the_stream_leader_killed_mid_run_loses_nothing_and_stores_nothing_twice(
        tmp_path: Path, RE, sim, cluster, cluster_publisher, serve_cluster) -> None:  # noqa: N803
    service = serve_cluster()
    leader = stream_leader(cluster.url)

    def killer() -> None:
        time.sleep(1.0)
        cluster.kill(int(leader.removeprefix("n")))

    thread = threading.Thread(target=killer)
    thread.start()
    _publish(RE, sim, RunWriterCallback(tmp_path / "local.db"), cluster_publisher)
    thread.join()
    wait_acknowledged(cluster.url, timeout=90)
    assert stream_leader(cluster.url) != leader  # the cluster elected another
    assert service.terminate() == 0
    assert_served_as_local(tmp_path)


def test_a_standby_on_the_same_durable_waits_then_takes_over_when_the_active_one_dies(
        tmp_path: Path, RE, sim, cluster, cluster_publisher, serve_cluster) -> None:  # noqa: N803
    active = serve_cluster("--lease", "3")
    standby = serve_cluster("--lease", "3", wait=False)
    standby.wait_for("standby: lease bluesky.resonance-callback is held by")
    assert "serving " not in standby.text()
    # nor a writer of the beamtime: one open there would keep it from being repaired
    # (the dead one's frames trimmed) when the active one dies
    assert "opened" not in standby.text()

    def killer() -> None:
        time.sleep(1.0)
        active.kill()

    thread = threading.Thread(target=killer)
    thread.start()
    _publish(RE, sim, RunWriterCallback(tmp_path / "local.db"), cluster_publisher)
    thread.join()
    standby.wait_for("serving ")
    wait_acknowledged(cluster.url, timeout=90)
    assert standby.terminate() == 0
    assert "lease bluesky.resonance-callback taken" in standby.text()
    assert_served_as_local(tmp_path)


def test_sigterm_to_a_waiting_standby_exits_0_without_serving(
        tmp_path: Path, cluster, serve_cluster) -> None:
    active = serve_cluster()
    standby = serve_cluster(wait=False)
    standby.wait_for("standby: lease")
    assert standby.terminate(timeout=30) == 0
    assert "stopped before the source opened" in standby.text()
    assert active.terminate() == 0
