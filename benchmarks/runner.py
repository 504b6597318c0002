"""Plan the comparisons, run their variants side by side, print the table, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .comparison import Comparison
from .report import machine, render
from .targets import CODECS, targets

ROOT = Path(__file__).resolve().parent.parent




def plan(quick: bool, tiled_max: int) -> list[Comparison]:
    """Every comparison of the run, smallest first within a case."""
    ns = [200] if quick else [1_000, 10_000, 100_000]
    re_ns = [50] if quick else [1_000, 5_000]  # bluesky itself: ~5 ms per event here
    frames = ([((512, 512), 16), ((2048, 2048), 4)] if quick
              else [((512, 512), 300), ((2048, 2048), 24)])
    out = []
    for n in ns:
        variants = {
            "callback": ("ingest_callback", {"n": n}),
            "sqlite loop": ("ingest_sqlite", {"n": n}),
            "suitcase-jsonl": ("ingest_jsonl", {"n": n}),
        }
        if n <= tiled_max:
            variants["TiledWriter"] = ("ingest_tiled", {"n": n})
        out.append(Comparison("ingest", f"N={n}", variants))
    for n in re_ns:
        out.append(Comparison("re_overhead", f"N={n}", {
            "no subscriber": ("re_count", {"n": n, "subscriber": False}),
            "callback": ("re_count", {"n": n, "subscriber": True}),
        }, min_repeats=1 if quick or n > 1_000 else 9))  # ~2 s runs swing by 2x here
    n_img = 10 if quick else 300
    img = {"n": n_img, "shape": [512, 512]}
    out.append(Comparison("re_image", f"512x512 N={n_img}", {
        "no subscriber": ("re_image", {**img, "subscriber": False}),
        "callback": ("re_image", {**img, "subscriber": "callback"}),
        "callback uncompressed": ("re_image", {**img, "subscriber": "callback",
                                               "codec": "none"}),
        "suitcase-msgpack": ("re_image", {**img, "subscriber": "msgpack"}),
    }, min_repeats=1 if quick else 9))  # ~1 s runs: the ratios swing on a shared machine
    for shape, n in frames:
        variants = {}
        for codec in CODECS:
            params = {"n": n, "shape": list(shape), "codec": codec}
            variants[f"callback {codec}"] = ("frames_callback", params)
            variants[f"bulk zarr {codec}"] = ("frames_bulk", params)
        variants["raw file"] = ("frames_raw", {"n": n, "shape": list(shape)})
        out.append(Comparison("frames", f"{shape[0]}x{shape[1]} N={n}", variants))
    n_s3 = 16 if quick else 300  # issue 24: frames on a local S3 server vs local disk
    s3_params = {"n": n_s3, "shape": [512, 512]}
    out.append(Comparison("frames_s3", f"512x512 N={n_s3}", {
        "callback local disk": ("frames_local", s3_params),
        "callback S3": ("frames_s3", s3_params)}, min_repeats=1 if quick else 3))
    for n in ([200] if quick else [1_000, 10_000, 50_000, 100_000]):
        out.append(Comparison("replay", f"N={n}", {
            "callback": ("replay_callback", {"n": n}),
            "hand-written loop": ("replay_loop", {"n": n}),
            "parse only": ("replay_parse", {"n": n}),
            "callback, stored already": ("replay_callback", {"n": n, "again": True}),
        }))
    n_replay_img = 20 if quick else 300
    out.append(Comparison("replay", f"images 128x128 N={n_replay_img}", {
        "callback": ("replay_callback", {"n": n_replay_img, "images": [128, 128]}),
        "hand-written loop": ("replay_loop", {"n": n_replay_img, "images": [128, 128]}),
        "parse only": ("replay_parse", {"n": n_replay_img, "images": [128, 128]}),
    }))
    n_table = 2_000 if quick else 100_000
    n_frames = 50 if quick else 1_000
    out.append(Comparison("reader", f"table N={n_table}, frame of {n_frames}", {
        "stream to DataFrame": ("reader_table", {"n": n_table}),
        "one frame (zarr)": ("reader_frame", {"n_frames": n_frames, "index": n_frames // 2,
                                              "shape": [512, 512]}),
    }))
    mem_ns = [200, 1_000] if quick else [10_000, 100_000, 1_000_000]
    out.append(Comparison("memory", "callback, documents made on the fly", {
        f"N={n}": ("memory_callback", {"n": n}) for n in mem_ns},
        max_repeats=None if quick else 3))  # 1M events: ~1 minute a run
    out.append(metadata_comparison(quick))
    scale = ({"beamtime_sizes": [100, 1_000], "index_beamtimes": [2, 4],
              "runs_per_beamtime": 100, "repeats": 3, "table_sizes": [100, 1_000],
              "frame_sizes": [10, 100]} if quick else
             {"beamtime_sizes": [100, 1_000, 10_000], "index_beamtimes": [10, 100, 1_000],
              "runs_per_beamtime": 1_000, "repeats": 7, "table_sizes": [10_000, 100_000,
              1_000_000], "frame_sizes": [1_000, 10_000, 100_000], "run_repeats": 3})
    out.append(Comparison("serve", "serve --nats against the in-process callback", {
        "figures": ("serve", {"n_scalar": 500, "n_frames": 20, "n_stalled": 100,
                              "recovery_sizes": [1_000, 10_000]} if quick else
                    {"n_scalar": 5_000, "n_frames": 200, "n_stalled": 1_500,
                     "recovery_sizes": [10_000, 100_000, 300_000]})}, max_repeats=1))
    out.append(Comparison("scale", "beamtime runs; index runs", {"curves": ("scale", scale)},
                          max_repeats=1))
    reads = ({"frame_sizes": [100, 1_000], "table_sizes": [1_000, 10_000], "repeats": 3,
              "table_repeats": 3} if quick else
             {"frame_sizes": [1_000, 10_000, 100_000], "table_sizes": [10_000, 100_000,
              1_000_000], "repeats": 9, "table_repeats": 3})
    out.append(Comparison("reads", "frames per run; events per run",
                          {"curves": ("read_curves", reads)}, max_repeats=1))
    return out


def metadata_comparison(quick: bool) -> Comparison:
    """Storing a start with an N-element list, and upgrading a schema-2 file holding one.

    The schema-3 view ("before", quadratic) is measured at the smaller sizes only: at
    100k elements it would take about half an hour.
    """
    ns = [100, 1_000] if quick else [1_000, 10_000, 100_000]
    before = ns[:1] if quick else ns[:2]
    variants = {f"store N={n}": ("metadata_store", {"n": n}) for n in ns}
    variants.update({f"store N={n} schema-3 view": ("metadata_store", {"n": n, "view": "schema3"})
                     for n in before})
    variants.update({f"upgrade N={n}": ("metadata_upgrade", {"n": n}) for n in ns})
    return Comparison("metadata", "start with an N-element list", variants,
                      min_repeats=1 if quick else 3)


# -- fixtures made once in this process -----------------------------------------------------


def prepare(comparisons: list[Comparison], work: Path) -> None:
    """Make the saved streams, database and frames that replay and reader cases read."""
    from resonance_callback import RunWriterCallback

    from .data import frame_docs, frame_pool, scalar_docs

    for comp in comparisons:
        if comp.case == "replay":
            first = next(iter(comp.variants.values()))[1]
            n, images = first["n"], first.get("images")
            path = work / f"saved-{n}{'-images' if images else ''}.jsonl"
            docs = (frame_docs(frame_pool(tuple(images)), n) if images else scalar_docs(n))
            count = 0
            with open(path, "w", encoding="utf-8") as f:  # the suitcase-jsonl layout
                for name, doc in docs:
                    f.write(json.dumps([name, doc], default=_jsonable) + "\n")
                    count += 1
            for _variant, params in comp.variants.values():
                params.update(path=str(path), docs=count)
        elif comp.case == "reader":
            table = comp.variants["stream to DataFrame"][1]
            frame = comp.variants["one frame (zarr)"][1]
            db = work / "reader.db"
            docs = scalar_docs(table["n"])
            name, start = next(docs)
            with RunWriterCallback(db) as cb:
                cb(name, start)
                for name, doc in docs:
                    cb(name, doc)
            table.update(db=str(db), run_uid=start["uid"])
            import numpy as np
            import zarr

            from resonance_callback.store._codecs import DEFAULT_CODEC, make_codec

            pool = frame_pool((512, 512))
            group = zarr.open_group(str(work / "reader.zarr"), mode="w")
            array = group.create_array("runs/r/primary/img", shape=(frame["n_frames"], 512, 512),
                                       chunks=(1, 512, 512), dtype="uint16",
                                       compressors=make_codec(DEFAULT_CODEC), fill_value=0)
            array[:] = np.stack([pool[i % len(pool)] for i in range(frame["n_frames"])])
            frame.update(zarr=str(work / "reader.zarr"), path="runs/r/primary/img")


def _jsonable(value: Any) -> Any:
    """numpy arrays and scalars in saved streams, as suitcase-jsonl writes them."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


# -- running -----------------------------------------------------------------------------------


def run_variant(variant: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one variant in a fresh interpreter; return its result or raise RuntimeError."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.cases", variant, json.dumps(params)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:] or ["no output"]
    raise RuntimeError(f"{variant} exited {proc.returncode}: {tail[0]}")


def run_all(comparisons: list[Comparison], repeats: int, timeout: float,
            log: Any = sys.stderr) -> None:
    for comp in comparisons:
        names = list(comp.variants)
        total = max(repeats, comp.min_repeats)
        if comp.max_repeats is not None:
            total = min(total, comp.max_repeats)
        for r in range(total):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                if name in comp.skipped:
                    continue
                variant, params = comp.variants[name]
                t0 = time.perf_counter()
                try:
                    result = run_variant(variant, params, timeout)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    comp.skipped[name] = str(exc)
                    print(f"  {comp.case} {comp.label} {name}: skipped ({exc})", file=log)
                    continue
                comp.results.setdefault(name, []).append(result)
                print(f"  {comp.case} {comp.label} {name} "
                      f"[{r + 1}/{total}]: "
                      f"{result['seconds']:.3f} s ({time.perf_counter() - t0:.1f} s wall)",
                      file=log, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="small smoke sizes and one repeat (checks that every case runs)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats of every variant (default 5; 1 with --quick)")
    parser.add_argument("--only", default=None,
                        help="comma-separated cases to run (ingest, re_overhead, re_image, "
                             "frames, frames_s3, replay, reader, memory, metadata, serve, scale, "
                             "reads; pg_index: the index on PostgreSQL, alone)")
    parser.add_argument("--tiled-max", type=int, default=10_000,
                        help="largest N for TiledWriter (default 10000; 100000 adds ~8 minutes)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="draw the scale curves into this PNG (matplotlib)")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds one variant may take before it counts as skipped")
    args = parser.parse_args(argv)
    if args.only and "pg_index" in args.only.split(","):  # its own server and sizes
        from .pg_index import main as pg_index

        return pg_index(["--quick"] if args.quick else [])
    repeats = args.repeats or (1 if args.quick else 5)
    comparisons = plan(args.quick, args.tiled_max)
    if args.only:
        wanted = set(args.only.split(","))
        comparisons = [c for c in comparisons if c.case in wanted]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rcbench-") as work:
        prepare(comparisons, Path(work))
        run_all(comparisons, repeats, args.timeout)
    rows, codec = targets(comparisons)
    report = {
        "machine": machine(),
        "config": {"quick": args.quick, "repeats": repeats, "wall_s": time.perf_counter() - t0,
                   "command": "python -m benchmarks" + (" --quick" if args.quick else "")},
        "targets": rows,
        "codec": codec,
        "cases": [{"case": c.case, "label": c.label,
                   "variants": {n: c.summary(n) for n in c.variants},
                   "skipped": c.skipped} for c in comparisons],
    }
    from .read_curves import render_read_curves
    from .round3 import plot, render_scale

    print(render(report))
    print(render_scale(report))
    print(render_read_curves(report))
    if args.plot:
        print(f"\nplot: {plot(report, args.plot)}", file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.out}", file=sys.stderr)
    return 0
