"""Scale curves inside one run: ``table()`` against events, one frame against frames.

Part of the scale case (:func:`benchmarks.scale.scale_case`). The runs are written
once, outside the timings, through :class:`RunWriterCallback` itself (so the rows,
the ``image_refs`` and the Zarr chunks are what a live run leaves): one run of N
scalar events of three floats per size in ``table_sizes`` and one run of N 16x16
uint16 frames per size in ``frame_sizes`` (frames small so the 100,000-frame run
builds in seconds; reading one frame costs the lookup of the run's frame
references plus one chunk, whatever the frame's size). Then, in interleaved
rounds (see :func:`benchmarks.rounds.median_rounds`), the beamtime (opened once) is asked
for ``bt[uid].table()`` and ``bt[uid].images("img")[N // 2]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .rounds import median_rounds

#: Frame shape of the frame runs.
FRAME_SHAPE = (16, 16)


def build_runs(db: Path, table_sizes: list[int], frame_sizes: list[int]
               ) -> tuple[dict[int, str], dict[int, str], dict[str, float]]:
    """Write the runs through the callback; return their uids and the build seconds."""
    from resonance_callback import RunWriterCallback

    from .data import frame_docs, frame_pool, scalar_docs

    pool = frame_pool(FRAME_SHAPE)
    tables, frames, build_s = {}, {}, {}
    cb = RunWriterCallback(db)
    try:
        for kind, sizes, make, uids in (
                ("table", table_sizes, scalar_docs, tables),
                ("frames", frame_sizes, lambda n: frame_docs(pool, n), frames)):
            for n in sizes:
                t0 = time.perf_counter()
                for name, doc in make(n):
                    if name == "start":
                        uids[n] = doc["uid"]
                    cb(name, doc)
                build_s[f"{kind} {n}"] = time.perf_counter() - t0
    finally:
        cb.close()
    return tables, frames, build_s


def run_curve(work: Path, table_sizes: list[int], frame_sizes: list[int], repeats: int
              ) -> dict[str, Any]:
    """Time ``table()`` and one frame's read at every size (see the module docstring)."""
    from resonance_callback import open_beamtime


    db = work / "runs.db"
    tables, frames, build_s = build_runs(db, table_sizes, frame_sizes)
    bt = open_beamtime(db)

    def table(n: int) -> None:
        if len(bt[tables[n]].table()) != n:
            raise AssertionError(f"table() of the {n}-event run has the wrong length")

    def one_frame(n: int) -> None:
        if bt[frames[n]].images("img")[n // 2].shape != FRAME_SHAPE:
            raise AssertionError(f"frame of the {n}-frame run has the wrong shape")

    try:
        seconds = {"table()": median_rounds(repeats, table_sizes,
                                      {"table()": table})["table()"],
                   "one frame": median_rounds(repeats, frame_sizes,
                                        {"one frame": one_frame})["one frame"]}
    finally:
        bt.close()
    return {"sizes": {"table()": table_sizes, "one frame": frame_sizes},
            "seconds": seconds, "build_s": build_s}


#: A step of the curve may cost at most this much more than linear (noise of the machine).
LINEAR_SLACK = 1.3


def run_targets(curve: dict[str, Any],
                row: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """Linear or better: per item cost at the largest size against the smallest, and no step
    of the curve more than :data:`LINEAR_SLACK` above linear."""
    rows = []
    for query, by in curve["seconds"].items():
        sizes = sorted(int(n) for n in by)
        lo, hi = sizes[0], sizes[-1]
        steps = [(by[str(b)] / by[str(a)]) / (b / a) for a, b in
                 zip(sizes[:-1], sizes[1:], strict=True)]
        worst = max(steps)
        what = "events" if query == "table()" else "frames"
        rows.append(row(f"one run: {query} at {hi:,} {what}, worst step against linear",
                        worst, f"<= {LINEAR_SLACK:g}x (linear or better)",
                        worst <= LINEAR_SLACK,
                        f"{1e3 * by[str(lo)]:.3g} ms at {lo:,} -> {1e3 * by[str(hi)]:.3g} ms "
                        f"at {hi:,}"))
    return rows
