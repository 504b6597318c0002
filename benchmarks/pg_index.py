"""The master index on PostgreSQL at 10k, 100k and 1M runs: search time, live indexing per run.

Run: ``python -m benchmarks --only pg_index [--quick]`` (or ``python -m benchmarks.pg_index``).

Starts its own PostgreSQL (Debian's postgresql 15, as the ``postgres`` user, fsync on:
tests/postgres_server.py) and grows one index through the sizes. The bulk of the
runs is written with ``COPY`` (the rows ``IndexWriter`` would write: runs, tags, the
start documents' leaves), spread over 10,000 researchers with 2 beamtimes each,
5,000 samples, 10,000 plan names, 10,000 proposals, one run every 10 s: a search
finds ~100 runs at 1M (200 by sample). At each size:

- **search**: ``search(URL, ...)`` by researcher, sample, plan, a metadata key
  (``where={"proposal": P}``) and a time range (1,000 s), each the median of 5, with
  the number of runs found; target 100 ms at 1M runs. A time range of 10,000 s (1,000
  runs found) is measured too, for the cost per run found (not a target).
- **live indexing**: ``RunIndexer.run_started`` + ``run_stopped`` of new runs, as the
  callback calls them (two transactions per run), median ms per run; target: flat,
  the largest size within 1.5x of the smallest.

With ``--served`` (e.g. ``python -m benchmarks.pg_index --served --sizes 10000,1000000
--before /tmp/old-src``), at each size ``serve-tiled URL`` is started in its own
process (this tree's code, and with ``--before DIR`` a second one with ``DIR`` first on
``PYTHONPATH``, measured interleaved with it) and timed over HTTP, median of 5 (3
for ``--before``): **open one run** (``client[uid]``: ``GET /api/v1/metadata/UID``, a
run of a real beamtime indexed among the bulk), **first page** (the first 100 keys,
what ``client.keys()[:100]`` asks: ``GET /api/v1/search/?page[limit]=100&fields=&sort=_``)
and **count** (``len(client)``: ``fields=count``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.index import IndexWriter, RunIndexer, search
from resonance_callback.index._dialect import leaf_rows

from .pg_served import real_run, served_ms

RESEARCHERS, BEAMTIMES_EACH, SAMPLES, PLANS, PROPOSALS = 10_000, 2, 5_000, 10_000, 10_000
T0, STEP = 1.7e9, 10.0
SEARCH_TARGET_MS, FLAT_RATIO = 100.0, 1.5


def _start(i: int) -> dict[str, Any]:
    return {"uid": f"bulk-{i:08d}", "time": T0 + STEP * i, "scan_id": i,
            "plan_name": f"plan{i % PLANS}", "sample": f"S{i % SAMPLES}",
            "proposal": i % PROPOSALS, "tags": ["bulk"], "detectors": ["det"],
            "operator": f"R{i % RESEARCHERS:05d}"}


def _fill(url: str, root: Path, start: int, stop: int) -> float:
    """COPY runs ``start`` .. ``stop - 1`` into the index; return seconds."""
    import psycopg

    t0 = time.perf_counter()
    n_beamtimes = RESEARCHERS * BEAMTIMES_EACH

    def runs() -> Iterator[tuple[Any, ...]]:
        for i in range(start, stop):
            doc = _start(i)
            yield (doc["uid"], i % n_beamtimes + 1, doc["plan_name"], doc["sample"], i,
                   doc["time"], doc["time"] + 5, "success", '{"primary": 10}',
                   jsoncodec.dumps(doc))

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        if start == 0:
            with cur.copy("COPY researchers (id, name, root_path) FROM STDIN") as copy:
                for r in range(RESEARCHERS):
                    copy.write_row((r + 1, f"R{r:05d}", str(root / f"r{r}")))
            with cur.copy("COPY beamtimes (id, researcher_id, label, db_path) FROM STDIN") as copy:
                for b in range(n_beamtimes):
                    copy.write_row((b + 1, b % RESEARCHERS + 1, f"bt{b}", f"bt{b}.db"))
            cur.execute("SELECT setval(pg_get_serial_sequence('researchers', 'id'), %s)",
                        (RESEARCHERS,))
            cur.execute("SELECT setval(pg_get_serial_sequence('beamtimes', 'id'), %s)",
                        (n_beamtimes,))
        with cur.copy("COPY runs (uid, beamtime_id, plan_name, sample_name, scan_id, time_start, "
                      "time_stop, exit_status, num_events, metadata) FROM STDIN") as copy:
            for row in runs():
                copy.write_row(row)
        with cur.copy("COPY run_tags (run_uid, tag) FROM STDIN") as copy:
            for i in range(start, stop):
                copy.write_row((f"bulk-{i:08d}", "bulk"))
        with cur.copy("COPY run_metadata (run_uid, key, value) FROM STDIN") as copy:
            for i in range(start, stop):
                doc = _start(i)
                for row in leaf_rows(doc["uid"], jsoncodec.dumps(doc)):
                    copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        cur.execute("ANALYZE")
    return time.perf_counter() - t0


def _searches(url: str, n: int) -> dict[str, dict[str, float]]:
    mid = n // 2
    queries = {
        "researcher": {"researcher": f"R{(mid + 1) % RESEARCHERS:05d}"},
        "sample": {"sample": f"S{mid % SAMPLES}"},
        "plan": {"plan": f"plan{mid % PLANS}"},
        "metadata key": {"where": {"proposal": mid % PROPOSALS}},
        "time range": {"since": T0 + STEP * mid, "until": T0 + STEP * mid + 1_000},
        "time range, 1,000 runs": {"since": T0 + STEP * mid, "until": T0 + STEP * mid + 10_000},
    }
    out = {}
    for name, filters in queries.items():
        times, found = [], 0
        for _ in range(5):
            t0 = time.perf_counter()
            found = len(search(url, **filters))
            times.append(time.perf_counter() - t0)
        out[name] = {"ms": 1e3 * statistics.median(times), "runs": found}
    return out


def _live(url: str, root: Path, n_runs: int) -> float:
    """Median ms per run of live indexing (start and stop) of ``n_runs`` new runs.

    The median, not the mean: on a shared machine a few runs that waited for the CPU
    or the disk would otherwise decide the number.
    """
    with RunIndexer(url, "R00000", root / "r0", "live", root / "r0" / "live.db") as indexer:
        indexer.run_started({"uid": "warm-" + uuid.uuid4().hex, "time": time.time()})  # type: ignore[typeddict-item]
        times = []
        for i in range(n_runs):
            t0 = time.perf_counter()
            uid = uuid.uuid4().hex
            start = {"uid": uid, "time": time.time(), "scan_id": i, "plan_name": "count",
                     "proposal": 77, "detectors": ["det"], "tags": ["live"]}
            assert indexer.run_started(start, "live-sample")  # type: ignore[arg-type]
            stop = {"uid": uuid.uuid4().hex, "run_start": uid, "time": time.time(),
                    "exit_status": "success", "num_events": {"primary": 1}}
            assert indexer.run_stopped(stop, {"primary": 1})  # type: ignore[arg-type]
            times.append(time.perf_counter() - t0)
        return 1e3 * statistics.median(times)


def run(quick: bool, sizes: list[int] | None = None, served: bool = False,
        before: Path | None = None) -> dict[str, Any]:
    """Measure at each size; return the report."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.postgres_server import PostgresServer

    sizes = sizes or ([1_000, 10_000] if quick else [10_000, 100_000, 1_000_000])
    live_runs = 20 if quick else 200
    server = PostgresServer(fsync=True).start()
    report: dict[str, Any] = {"sizes": {}}
    try:
        url = server.new_database()
        with tempfile.TemporaryDirectory() as tmp, IndexWriter(url) as writer:
            writer.ensure_schema()
            root, filled, uid = Path(tmp), 0, ""
            for n in sizes:
                fill_s = _fill(url, root, filled, n)
                filled = n
                entry = {"fill_s": fill_s, "search": _searches(url, n),
                         "live_ms_per_run": _live(url, root, live_runs)}
                report["sizes"][n] = entry
                print(f"{n:>9,} runs (filled in {fill_s:.0f} s): live "
                      f"{entry['live_ms_per_run']:.2f} ms/run; search " + ", ".join(
                          f"{k} {v['ms']:.1f} ms ({v['runs']} runs)"
                          for k, v in entry["search"].items()), flush=True)
                if served:
                    uid = uid or real_run(url, root)
                    entry["served_ms"] = served_ms(url, uid, before)
                    for name, kinds in entry["served_ms"].items():
                        print(f"{n:>9,} runs, serve-tiled ({name}): " + ", ".join(
                            f"{k} {ms:.1f} ms" for k, ms in kinds.items()), flush=True)
    finally:
        server.close()
    largest, smallest = report["sizes"][sizes[-1]], report["sizes"][sizes[0]]
    checks = {f"search by {k} at {sizes[-1]:,} runs ({v['runs']} found) < "
              f"{SEARCH_TARGET_MS:.0f} ms": v["ms"] < SEARCH_TARGET_MS
              for k, v in largest["search"].items() if "1,000 runs" not in k}
    ratio = largest["live_ms_per_run"] / smallest["live_ms_per_run"]
    checks[f"live indexing flat {sizes[0]:,} -> {sizes[-1]:,} runs (x{ratio:.2f} <= "
           f"{FLAT_RATIO})"] = ratio <= FLAT_RATIO
    report["checks"] = checks
    for name, ok in checks.items():
        print(f"{'pass' if ok else 'MISS'}  {name}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pg_index", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1k and 10k runs only")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated index sizes (default 10k,100k,1M; --quick 1k,10k)")
    parser.add_argument("--served", action="store_true",
                        help="also time serve-tiled over the index (open a run, a page, count)")
    parser.add_argument("--before", type=Path, default=None,
                        help="with --served, also serve with this source tree (older code)")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else None
    report = run(args.quick, sizes, args.served, args.before)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
