"""Reader benchmark: a 100,000-event stream into a DataFrame, one frame out of 1,000.

    python benchmarks/reader_bench.py [--events 100000] [--frames 1000] [--size 512]

Writes a scratch beamtime with RunWriter into a temporary directory, then
times ``Run.table()`` and ``Run.images(...)[i]`` against reading every frame,
counting the Zarr chunks and bytes each read touches. Prints the numbers; not
a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from zarr.storage import LocalStore, WrapperStore

from resonance_callback import RunWriter, open_beamtime


class CountingStore(WrapperStore):
    """A read-only store that counts chunk reads and the bytes they return."""

    def __init__(self, store: Any, tally: dict[str, int] | None = None) -> None:
        super().__init__(store)
        self.tally = {"chunks": 0, "bytes": 0} if tally is None else tally

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        buffer = await self._store.get(key, prototype, byte_range)
        if "/c/" in key and buffer is not None:
            self.tally["chunks"] += 1
            self.tally["bytes"] += len(buffer)
        return buffer

    def _with_store(self, store: Any) -> CountingStore:
        return type(self)(store, self.tally)

    def reset(self) -> None:
        self.tally.update(chunks=0, bytes=0)


def write_events(db: Path, n: int) -> float:
    keys = {k: {"dtype": "number", "shape": [], "source": "bench"}
            for k in ("det", "I0", "motor", "motor_setpoint")}
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    with RunWriter(db, None, commit_every=10_000) as writer:
        writer.open_run("scan", uid="events-run", metadata={"uid": "events-run"})
        writer.open_stream("primary", keys, uid="events-desc")
        t0 = time.time()
        for i in range(1, n + 1):
            x = i / n
            values = {"det": float(rng.normal(np.exp(-((x - 0.5) ** 2) / 0.01), 0.01)),
                      "I0": 1e5 + i % 7, "motor": x, "motor_setpoint": x}
            writer.write_event(values, dict.fromkeys(values, t0 + i * 1e-3),
                               time=t0 + i * 1e-3, seq_num=i)
        writer.close_run()
    return time.perf_counter() - started


def write_frames(db: Path, n: int, size: int) -> float:
    keys = {"cam": {"dtype": "array", "shape": [size, size], "source": "bench"}}
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:size, 0:size]
    blob = 200 * np.exp(-((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / (size / 8) ** 2)
    base = rng.poisson(blob + 10).astype(np.uint16)
    started = time.perf_counter()
    with RunWriter(db, None, commit_every=100) as writer:
        writer.open_run("count", uid="frames-run", metadata={"uid": "frames-run"})
        writer.open_stream("primary", keys, uid="frames-desc")
        for i in range(1, n + 1):
            uid = writer.write_event({}, {}, seq_num=i)
            writer.write_image(uid, "cam", np.roll(base, i, axis=1), timestamp=time.time())
        writer.close_run()
    return time.perf_counter() - started


def best_of(repeats: int, func: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512, help="frame edge in pixels (uint16)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        wrote_events = write_events(db, args.events)
        wrote_frames = write_frames(db, args.frames, args.size)
        store = CountingStore(LocalStore(db.with_suffix(".zarr"), read_only=True))
        with open_beamtime(db, zarr_store=store) as bt:
            seconds, table = best_of(3, lambda: bt["events-run"].table())
            print(f"write {args.events:,} events (RunWriter):        {wrote_events:8.3f} s")
            print(f"table() of {len(table):,} events x {table.shape[1]} columns:  "
                  f"{seconds:8.3f} s  ({len(table) / seconds:,.0f} events/s, best of 3)")
            print(f"write {args.frames:,} frames {args.size}x{args.size} uint16:   "
                  f"{wrote_frames:8.3f} s")
            run = bt["frames-run"]
            frames = run.images("cam")
            store.reset()
            one, frame = best_of(5, lambda: run.images("cam")[args.frames // 2])
            chunks_one, bytes_one = store.tally["chunks"] / 5, store.tally["bytes"] / 5
            store.reset()
            every, stack = best_of(1, lambda: np.asarray(frames))
            assert np.array_equal(stack[args.frames // 2], frame)
            print(f"images('cam')[{args.frames // 2}] (lookup + one frame): {one:8.4f} s  "
                  f"{chunks_one:.0f} chunk, {bytes_one / 1e6:.3f} MB read")
            print(f"all {args.frames} frames (np.asarray):           {every:8.3f} s  "
                  f"{store.tally['chunks']} chunks, {store.tally['bytes'] / 1e6:.1f} MB read "
                  f"({stack.nbytes / 1e6:.0f} MB decoded)")
            print(f"one frame vs all: {every / one:,.0f}x faster, "
                  f"{store.tally['bytes'] / bytes_one:,.0f}x fewer bytes")


if __name__ == "__main__":
    main()
