"""Interleaved timing rounds: the medians the scale curves report.

Round r times every size once (starting at a different size each round), so a slow
spell of this shared machine hits all sizes alike; round 0 warms caches and lazy imports
up and is not timed. Used by :mod:`benchmarks.scale` and :mod:`benchmarks.scale_runs`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_rounds(repeats: int, sizes: list[int], queries: dict[str, Callable[[int], Any]],
                  clock: Callable[[], float] = time.perf_counter) -> dict[str, dict[int, float]]:
    """Median seconds of every query at every size, sizes and queries interleaved.

    ``clock`` is wall time by default; ``time.process_time`` times the process's CPU
    (for a machine so loaded that waiting for a core would swamp the work).
    """
    times: dict[str, dict[int, list[float]]] = {q: {n: [] for n in sizes} for q in queries}
    for r in range(repeats + 1):
        for n in sizes[r % len(sizes):] + sizes[:r % len(sizes)]:
            for name, query in queries.items():
                t0 = clock()
                query(n)
                elapsed = clock() - t0
                if r:  # round 0 warms caches and lazy imports up, untimed
                    times[name][n].append(elapsed)
    return {q: {n: statistics.median(v) for n, v in by.items()} for q, by in times.items()}
