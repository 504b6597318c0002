"""Scale curves: what a query costs as a beamtime or the master index grows.

``python -m benchmarks.scale JSON`` (the runner calls it in a fresh process) builds
the data once per size, bulk, outside the timings, then times every query at every
size in interleaved rounds (round r times every size once, so a slow spell of this
shared machine hits all sizes alike) and reports the median per size.

Beamtime (``sizes`` runs of 10 events each): the runs are spread so that the
constant-size queries have the same answer at every size: 10 runs per sample, 10
runs of the plan ``align``, 10 runs per ``batch`` value, 10 runs in the time
window; listing all runs has an answer that grows with the beamtime.

Master index (``beamtimes`` of ``runs_per_beamtime`` runs, two beamtimes per
researcher): the beamtimes are added size by size to one index (10k, 100k, 1M
runs), so the answers are the same at every size: a researcher's 2 beamtimes, 10
runs of a sample, 10 of the plan ``rocking_curve``, 10 of a ``batch`` value, 10 in
a time window. Live indexing: the time of ``RunIndexer.run_started`` +
``run_stopped`` per run, for 100 new runs at each size.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .rounds import median_rounds

T0 = 1.7e9
PER_SAMPLE = 10  # runs per sample, per batch value, in the time window


def start_document(i: int, n: int, uid: str, prefix: str = "") -> dict[str, Any]:
    """The start document of run ``i`` of ``n``: the keys a beamline's start documents carry."""
    rare = n // PER_SAMPLE
    return {
        "uid": uid, "time": T0 + 60.0 * i, "scan_id": i + 1,
        "plan_name": "align" if i % rare == 0 else ("scan" if i % 3 else "count"),
        "plan_type": "generator", "sample": f"{prefix}S{i // PER_SAMPLE}",
        "batch": f"{prefix}B{i // PER_SAMPLE}", "operator": ["ana", "ben", "chen"][i % 3],
        "proposal": {"id": f"{prefix}P1", "pi": "Ana"}, "detectors": ["det", "det4"],
        "motors": ["motor"], "num_points": 10, "num_intervals": 9,
        "plan_args": {"detectors": ["det"], "num": 10, "start": -1.0, "stop": 1.0},
        "hints": {"dimensions": [[["motor"], "primary"]]}, "tags": ["scale", f"t{i % 7}"],
        "versions": {"bluesky": "1.15.1", "ophyd": "1.10"},
    }


# -- a beamtime of many runs ---------------------------------------------------------------------


def build_beamtime(db: Path, n: int) -> None:
    """``n`` runs of 10 events each, written through the schema's connection in bulk."""
    from resonance_callback import _sqlite as schema
    from resonance_callback import jsoncodec

    conn = schema.connect(db, "beamtime")
    with schema.transaction(conn):
        conn.executemany("INSERT INTO samples (id, name) VALUES (?, ?)",
                         [(k + 1, f"S{k}") for k in range((n + PER_SAMPLE - 1) // PER_SAMPLE)])
        runs, streams, events = [], [], []
        for i in range(n):
            uid = str(uuid.UUID(int=i + 1))
            doc = start_document(i, n, uid)
            runs.append((uid, i // PER_SAMPLE + 1, doc["plan_name"], i + 1, doc["time"],
                         doc["time"] + 30, "success", jsoncodec.dumps(doc)))
            stream = f"{uid}-primary"
            streams.append((stream, uid, "primary", doc["time"], '{"det": {"dtype": "number"}}'))
            events.extend((f"{stream}-{k}", stream, k + 1, doc["time"] + k,
                           f'{{"det": {k * 0.5}}}', f'{{"det": {doc["time"] + k}}}')
                          for k in range(10))
        conn.executemany("INSERT INTO runs (uid, sample_id, plan_name, scan_id, time_start, "
                         "time_stop, exit_status, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         runs)
        conn.executemany("INSERT INTO streams (uid, run_uid, name, time, data_keys) "
                         "VALUES (?, ?, ?, ?, ?)", streams)
        conn.executemany("INSERT INTO events (uid, stream_uid, seq_num, time, data, timestamps) "
                         "VALUES (?, ?, ?, ?, ?, ?)", events)
    conn.close()


def beamtime_curve(work: Path, sizes: list[int], repeats: int) -> dict[str, Any]:
    """Time the beamtime's queries at every size (see the module docstring)."""
    from resonance_callback import open_beamtime

    dbs = {}
    build_s = {}
    for n in sizes:
        dbs[n] = work / f"bt-{n}.db"
        t0 = time.perf_counter()
        build_beamtime(dbs[n], n)
        build_s[n] = time.perf_counter() - t0
    opened = {n: open_beamtime(dbs[n]) for n in sizes}

    def middle(n: int) -> int:
        return (n // 2) // PER_SAMPLE * PER_SAMPLE  # the first run of a sample / batch

    def check(found: list[Any], expected: int) -> None:
        if len(found) != expected:
            raise AssertionError(f"{len(found)} runs found, {expected} expected")

    def legacy_where(n: int) -> None:
        # the same filter without run_metadata: what every beamtime paid before schema 3
        from dataclasses import replace

        from resonance_callback.store import RunFilter, select_runs

        reader = opened[n]._reader
        saved = reader.filter_columns
        reader.filter_columns = replace(saved, metadata_index=None)
        try:
            check(select_runs(reader, RunFilter(where={"batch": f"B{middle(n) // 10}"})),
                  PER_SAMPLE)
        finally:
            reader.filter_columns = saved

    queries: dict[str, Callable[[int], Any]] = {
        "open": lambda n: open_beamtime(dbs[n]).close(),
        "list all runs": lambda n: check(opened[n].runs(), n),
        "len(bt)": lambda n: len(opened[n]),
        "filter sample": lambda n: check(opened[n].runs(sample=f"S{middle(n) // 10}"),
                                         PER_SAMPLE),
        "filter plan": lambda n: check(opened[n].runs(plan="align"), PER_SAMPLE),
        "filter metadata key": lambda n: check(
            opened[n].runs(where={"batch": f"B{middle(n) // 10}"}), PER_SAMPLE),
        "filter time": lambda n: check(opened[n].runs(
            since=T0 + 60.0 * middle(n), until=T0 + 60.0 * (middle(n) + PER_SAMPLE)),
            PER_SAMPLE),
        "bt[scan_id]": lambda n: opened[n][middle(n) + 1].uid,
        "bt[-1]": lambda n: opened[n][-1].uid,
        "filter metadata key, no run_metadata (schema 2)": legacy_where,
    }
    try:
        medians = median_rounds(repeats, sizes, queries)
    finally:
        for bt in opened.values():
            bt.close()
    return {"sizes": sizes, "seconds": medians, "build_s": build_s}


# -- a master index of many beamtimes ---------------------------------------------------------


def _index_rows(b: int, beamtime_id: int, runs: int) -> Iterator[tuple[Any, ...]]:
    from resonance_callback import jsoncodec

    for j in range(runs):
        i = b * runs + j
        uid = str(uuid.UUID(int=i + 1))
        doc = start_document(i, 10**9, uid, prefix=f"{b}-")
        doc["plan_name"] = "rocking_curve" if b == 0 and j < PER_SAMPLE else doc["plan_name"]
        yield (uid, beamtime_id, doc["plan_name"], doc["sample"], i + 1, doc["time"],
               doc["time"] + 30, "success", '{"primary": 10}', jsoncodec.dumps(doc),
               [t for t in doc["tags"]])


def grow_index(path: Path, root: Path, first: int, last: int, runs: int) -> None:
    """Add beamtimes ``first`` .. ``last - 1`` of ``runs`` runs each, two per researcher.

    Researchers and beamtimes go through :class:`IndexWriter`; the run rows through
    the index schema's connection in bulk (``executemany``), so the triggers that keep
    ``run_metadata`` run as they do for a live run.
    """
    from resonance_callback import IndexWriter
    from resonance_callback import _sqlite as schema

    ids = {}
    with IndexWriter(path) as writer:
        for b in range(first, last):
            researcher = writer.register_researcher(f"R{b // 2}", root / f"R{b // 2}")
            ids[b] = writer.register_beamtime(researcher, f"bt{b}",
                                              root / f"R{b // 2}" / f"bt{b}.db")
    conn = schema.connect(path, "index")
    conn.execute("PRAGMA cache_size = -1000000")  # 1 GB while building
    conn.execute("PRAGMA synchronous = OFF")
    try:
        # A bulk load: the side table's indexes are dropped and made again at the end
        # (one sort instead of 17 random inserts per run), from their own DDL, so the
        # file ends as the library makes it. The triggers fill the table as they do live.
        ddl = [row[0] for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'run_metadata'")]
        for name in [row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'run_metadata'")]:
            conn.execute(f"DROP INDEX {name}")
        for b in range(first, last):
            with schema.transaction(conn):
                rows = list(_index_rows(b, ids[b], runs))
                conn.executemany(
                    "INSERT INTO runs (uid, beamtime_id, plan_name, sample_name, scan_id, "
                    "time_start, time_stop, exit_status, num_events, metadata) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [r[:-1] for r in rows])
                conn.executemany("INSERT INTO run_tags (run_uid, tag) VALUES (?, ?)",
                                 [(r[0], t) for r in rows for t in r[-1]])
        for statement in ddl:
            conn.execute(statement)
    finally:
        conn.close()


def index_curve(work: Path, beamtimes: list[int], runs: int, repeats: int) -> dict[str, Any]:
    """Time ``search`` and live indexing as the index grows (see the module docstring)."""
    from resonance_callback import search
    from resonance_callback.index._live import RunIndexer

    path, root = work / "index.db", work / "site"
    sizes, results, build_s, live = [], {}, {}, {}
    built = 0
    mid = runs // 2 // PER_SAMPLE * PER_SAMPLE  # run of beamtime 0 the queries aim at
    i = mid
    for count in beamtimes:
        t0 = time.perf_counter()
        grow_index(path, root, built, count, runs)
        build_s[count * runs] = time.perf_counter() - t0
        built = count
        n = count * runs
        sizes.append(n)

        def check(found: list[Any], expected: int) -> None:
            if len(found) != expected:
                raise AssertionError(f"{len(found)} runs found, {expected} expected")

        queries: dict[str, Callable[[int], Any]] = {
            "researcher": lambda n: check(search(path, researcher="R0"), 2 * runs),
            "sample": lambda n: check(search(path, sample=f"0-S{mid // 10}"), PER_SAMPLE),
            "plan": lambda n: check(search(path, plan="rocking_curve"), PER_SAMPLE),
            "metadata key": lambda n: check(search(path, where={"batch": f"0-B{mid // 10}"}),
                                            PER_SAMPLE),
            "time range": lambda n: check(search(path, since=T0 + 60.0 * i,
                                                 until=T0 + 60.0 * (i + PER_SAMPLE)),
                                          PER_SAMPLE),
        }
        results[n] = {q: s[0] for q, s in median_rounds(repeats, [0], queries).items()}
        # live indexing: 100 new runs into a beamtime of its own, start and stop each
        bt_db = root / "live" / f"live-{n}.db"
        indexer = RunIndexer(path, "live", root / "live", f"live-{n}", bt_db)
        per_run = []
        try:
            for k in range(100):
                doc = start_document(k, 1000, str(uuid.uuid4()), prefix="live-")
                doc["time"] += 1e9  # after every bulk run: not in the queries' answers
                t0 = time.perf_counter()
                ok = indexer.run_started(doc, doc["sample"])
                ok &= indexer.run_stopped({"uid": str(uuid.uuid4()), "run_start": doc["uid"],
                                           "time": doc["time"] + 1, "exit_status": "success",
                                           "num_events": {"primary": 10}}, {"primary": 10})
                if not ok:
                    raise RuntimeError("live indexing failed (see the warning logged)")
                per_run.append(time.perf_counter() - t0)
        finally:
            indexer.close()
        live[n] = statistics.median(per_run[10:])
    seconds = {q: {n: results[n][q] for n in sizes} for q in next(iter(results.values()))}
    seconds["live indexing, per run"] = live
    return {"sizes": sizes, "seconds": seconds, "build_s": build_s}


def scale_case(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The curves, as one variant of the runner (run once: it repeats inside)."""
    t0 = time.perf_counter()
    (tmp / "site" / "live").mkdir(parents=True)
    from .scale_runs import run_curve

    curves = {"beamtime": beamtime_curve(tmp, p["beamtime_sizes"], p["repeats"]),
              "index": index_curve(tmp, p["index_beamtimes"], p["runs_per_beamtime"],
                                   p["repeats"])}
    if p.get("table_sizes"):
        curves["run"] = run_curve(tmp, p["table_sizes"], p["frame_sizes"],
                                  p.get("run_repeats", p["repeats"]))
    return {"seconds": time.perf_counter() - t0, "rss_before_mb": 0.0, "curves": curves}


def main() -> None:
    params = json.loads(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="rcbench-scale-", dir=params.get("tmpdir")) as tmp:
        print("RESULT " + json.dumps(scale_case(params, Path(tmp))))


if __name__ == "__main__":
    main()
