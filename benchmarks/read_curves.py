"""Cost curves of reads against the size of one run (issue 25): one frame, and ``table()``.

Run by the runner as the ``reads`` case (``python -m benchmarks --only reads``), in a
fresh process, once (it repeats inside). The runs are written once, outside the
timings, through :class:`RunWriterCallback` (so the rows, ``image_refs``, ``frame_spans``
and Zarr chunks are what a live run leaves): one run of N 16x16 uint16 frames (plus a
scalar) per size in ``frame_sizes``, one run of N events of three floats per size in
``table_sizes``. Then, in interleaved rounds (:func:`benchmarks.rounds.median_rounds`:
round r times every size once, round 0 untimed), from a beamtime opened once:

- ``by index``: ``bt[uid].images("img")[N // 2]``;
- ``by event uid``: ``bt[uid].event_frame(uid of event N // 2, "img")``;
- ``FrameArray``: ``bt[uid]["primary"].frames("img")[N // 2]`` (the stream's array, as
  the xarray and Tiled paths use it);
- ``xarray``: ``bt[uid]["primary"].read()["img"][N // 2].values``;
- ``serve-tiled``: frame N // 2 from our Tiled server (``build_app``, over HTTP on
  127.0.0.1, in this process), through one client made before the timings;
- ``table()`` and ``table(fields=["det"])`` of the N-event runs; and once per size, out
  of the timings, the peak of Python's allocations during ``table()`` (tracemalloc)
  against the bytes of the DataFrame it returns.

With ``"clock": "cpu"`` the rounds time the process's CPU (``time.process_time``, the
server thread included) instead of wall time: on a machine so loaded that this process
gets a fraction of a core, waiting for one would swamp the work being measured.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

from .rounds import median_rounds

FRAME_SHAPE = (16, 16)
#: issue 25's targets
FRAME_GROWTH, TABLE_ROWS_PER_S, TABLE_MEMORY, LINEAR_SLACK = 2.0, 500_000, 2.0, 1.3
FRAME_QUERIES = ("by index", "by event uid", "FrameArray", "xarray", "serve-tiled")


def build(db: Path, frame_sizes: list[int], table_sizes: list[int]) -> dict[str, Any]:
    """Write the runs through the callback; their uids (and middle events'), build seconds."""
    from resonance_callback import RunWriterCallback

    from .data import frame_docs, frame_pool, scalar_docs

    pool = frame_pool(FRAME_SHAPE)
    out: dict[str, Any] = {"frames": {}, "tables": {}, "build_s": {}}
    cb = RunWriterCallback(db)
    try:
        for n in frame_sizes:
            t0 = time.perf_counter()
            run, middle = "", ""
            for name, doc in frame_docs(pool, n):
                run = doc["uid"] if name == "start" else run
                if name == "event" and doc["seq_num"] == n // 2 + 1:
                    middle = doc["uid"]
                cb(name, doc)
            out["frames"][n] = (run, middle)
            out["build_s"][f"frames {n}"] = time.perf_counter() - t0
        for n in table_sizes:
            t0 = time.perf_counter()
            for name, doc in scalar_docs(n):
                if name == "start":
                    out["tables"][n] = doc["uid"]
                cb(name, doc)
            out["build_s"][f"table {n}"] = time.perf_counter() - t0
    finally:
        cb.close()
    return out


def _frame_queries(bt: Any, frames: dict[int, tuple[str, str]], tiled: Any) -> dict[str, Any]:
    def check(frame: Any) -> None:
        if tuple(frame.shape) != FRAME_SHAPE:
            raise AssertionError(f"a frame of shape {frame.shape}")

    queries = {
        "by index": lambda n: check(bt[frames[n][0]].images("img")[n // 2]),
        "by event uid": lambda n: check(bt[frames[n][0]].event_frame(frames[n][1], "img")),
        "FrameArray": lambda n: check(bt[frames[n][0]]["primary"].frames("img")[n // 2]),
        "xarray": lambda n: check(bt[frames[n][0]]["primary"].read()["img"][n // 2].values),
    }
    if tiled is not None:
        queries["serve-tiled"] = lambda n: check(
            tiled[frames[n][0]]["primary"].base["img"][n // 2])
    return queries


def read_curves_case(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The curves, as one variant of the runner (run once: it repeats inside)."""
    import warnings

    from resonance_callback import open_beamtime

    warnings.simplefilter("ignore")  # xarray on 16x16 frames: one dim name for both axes
    t0 = time.perf_counter()
    db = tmp / "reads.db"
    built = build(db, p["frame_sizes"], p["table_sizes"])
    frames, tables = built["frames"], built["tables"]
    bt = open_beamtime(db)
    try:
        clock = time.process_time if p.get("clock") == "cpu" else time.perf_counter
        with _tiled_client(db) as tiled:
            seconds = median_rounds(p["repeats"], p["frame_sizes"],
                                    _frame_queries(bt, frames, tiled), clock)
        table_queries = {
            "table()": lambda n: _check_len(bt[tables[n]].table(), n),
            'table(fields=["det"])': lambda n: _check_len(
                bt[tables[n]].table(fields=["det"]), n),
        }
        seconds.update(median_rounds(p["table_repeats"], p["table_sizes"], table_queries,
                                     clock))
        memory = {}
        for n in p["table_sizes"]:
            tracemalloc.start()
            table = bt[tables[n]].table()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            memory[n] = {"peak_mb": peak / 1e6,
                         "frame_mb": float(table.memory_usage(deep=True).sum()) / 1e6}
            del table
    finally:
        bt.close()
    curves = {"seconds": seconds, "memory": memory, "build_s": built["build_s"],
              "clock": "cpu" if clock is time.process_time else "wall",
              "frame_sizes": p["frame_sizes"], "table_sizes": p["table_sizes"]}
    return {"seconds": time.perf_counter() - t0, "rss_before_mb": 0.0, "curves": curves}


def _check_len(table: Any, n: int) -> None:
    if len(table) != n:
        raise AssertionError(f"table() of the {n}-event run has {len(table)} rows")


class _tiled_client:  # noqa: N801 - a context manager used as a function
    """A Tiled client of our server for the beamtime, or None if Tiled is not installed."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.stack: list[Any] = []

    def __enter__(self) -> Any:
        try:
            import uvicorn
            from tiled.client import from_uri
            from tiled.server.simple import ThreadedServer

            from resonance_callback.tiled_server import build_app
        except ImportError:
            return None
        server = ThreadedServer(uvicorn.Config(build_app(self.db, api_key="bench"),
                                               host="127.0.0.1", port=0, log_level="error"))
        running = server.run_in_thread()
        url = running.__enter__()
        self.stack.append(running)
        client = from_uri(url, api_key="bench")
        self.stack.append(client.context)
        return client

    def __exit__(self, *exc: Any) -> None:
        context = self.stack[1] if len(self.stack) > 1 else None
        if context is not None:
            context.close()
        if self.stack:
            self.stack[0].__exit__(None, None, None)


def read_targets(curves: dict[str, Any], row: Any) -> list[dict[str, Any]]:
    """Issue 25's read targets from the curves: constant-time frames, table speed and memory."""
    rows = []
    by = curves["seconds"]
    fs = sorted(int(n) for n in curves["frame_sizes"])
    lo, hi = str(fs[0]), str(fs[-1])
    for query in FRAME_QUERIES:
        if query not in by:
            continue
        growth = by[query][hi] / by[query][lo]
        rows.append(row(f"one frame of a run, {query}: time at {int(hi):,} frames / at "
                        f"{int(lo):,}", growth, f"<= {FRAME_GROWTH:g}x", growth <= FRAME_GROWTH,
                        f"{1e3 * by[query][lo]:.3g} ms -> {1e3 * by[query][hi]:.3g} ms"))
    ts = sorted(int(n) for n in curves["table_sizes"])
    top = str(ts[-1])
    rate = ts[-1] / by["table()"][top]
    rows.append(row(f"table() of {ts[-1]:,} events x 3 fields: rows/s", rate,
                    f">= {TABLE_ROWS_PER_S:,}", rate >= TABLE_ROWS_PER_S,
                    f"{1e3 * by['table()'][top]:.0f} ms", "rows/s"))
    mem = curves["memory"][top]
    share = mem["peak_mb"] / mem["frame_mb"]
    rows.append(row(f"table() of {ts[-1]:,} events: peak allocations / DataFrame", share,
                    f"<= {TABLE_MEMORY:g}x", share <= TABLE_MEMORY,
                    f"{mem['peak_mb']:.0f} MB peak for a {mem['frame_mb']:.0f} MB DataFrame"))
    for query in ("table()", 'table(fields=["det"])'):
        steps = [(by[query][str(b)] / by[query][str(a)]) / (b / a)
                 for a, b in zip(ts[:-1], ts[1:], strict=True)]
        rows.append(row(f"{query} up to {ts[-1]:,} events, worst step against linear",
                        max(steps), f"<= {LINEAR_SLACK:g}x (linear or better)",
                        max(steps) <= LINEAR_SLACK, " / ".join(
                            f"{1e3 * by[query][str(n)]:.3g} ms" for n in ts)))
    return rows


def render_read_curves(report: dict[str, Any]) -> str:
    """Markdown: ms per read at every run size, and table() memory."""
    case = next((c for c in report["cases"] if c["case"] == "reads"), None)
    s = case and case["variants"].get("curves")
    if not s:
        return ""
    c = s["curves"]
    lines = []
    for title, sizes, queries in (
            ("frames in the run", c["frame_sizes"], [q for q in FRAME_QUERIES
                                                     if q in c["seconds"]]),
            ("events in the run", c["table_sizes"], ["table()", 'table(fields=["det"])'])):
        lines += ["", f"## Reads: ms against {title} (median of interleaved rounds)", "",
                  "| read | " + " | ".join(f"{int(n):,}" for n in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]
        for q in queries:
            lines.append(f"| {q} | " + " | ".join(
                f"{1e3 * c['seconds'][q][str(n)]:.3g}" for n in sizes) + " |")
    ts = c["table_sizes"]
    lines.append("| table() rows/s | " + " | ".join(
        f"{int(n) / c['seconds']['table()'][str(n)]:,.0f}" for n in ts) + " |")
    lines.append("| table() peak MB / DataFrame MB | " + " | ".join(
        f"{c['memory'][str(n)]['peak_mb']:.1f} / {c['memory'][str(n)]['frame_mb']:.1f}"
        for n in ts) + " |")
    return "\n".join(lines)
