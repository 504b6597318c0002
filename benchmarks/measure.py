"""What every variant uses: timing, memory, sizes on disk, the untimed warm-up run."""

from __future__ import annotations

import gc
import os
import resource
import time
from pathlib import Path
from typing import Any


def rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def rss_peak_mb() -> float:
    """Peak RSS of this process: ``VmHWM``, not ``ru_maxrss``, which on Linux keeps the
    parent's RSS at the fork before ``exec``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1e3  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kB on Linux


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def chunk_bytes(zarr_dir: Path) -> int:
    """Bytes of chunk files (not metadata) under a Zarr v3 directory store."""
    return sum(p.stat().st_size for p in Path(zarr_dir).rglob("*")
               if p.is_file() and "/c/" in p.as_posix())


class Timer:
    def __enter__(self) -> Timer:
        gc.collect()
        self.rss_before = rss_now_mb()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.t0


def _result(timer: Timer, **extra: Any) -> dict[str, Any]:
    return {"seconds": timer.seconds, "rss_before_mb": timer.rss_before, **extra}


#: Events of the untimed run each variant makes first, so that one-time costs of a
#: fresh process (lazy imports, Zarr's I/O thread, first connections) are not timed,
#: for every variant alike.
WARM_UP = 10


def _warm_callback(tmp: Path) -> None:
    from resonance_callback import RunWriterCallback

    from .data import scalar_docs

    with RunWriterCallback(tmp / "warm" / "bt.db") as cb:
        for name, doc in scalar_docs(WARM_UP):
            cb(name, doc)
