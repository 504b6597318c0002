"""Plan the comparisons, run their variants side by side, print the table, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: How the default codec is picked from the frames results (see README).
CODEC_RULE = ("fastest through the callback at 512x512 (median MB/s of raw frames), unless its "
              "stored size is more than 1.25x the smallest; then the fastest of those within it")

CODECS = ("zstd", "blosc-lz4", "blosc-zstd")


@dataclass
class Comparison:
    """Variants measured side by side: each repeat runs every variant once, in rotated order."""

    case: str
    label: str
    variants: dict[str, tuple[str, dict[str, Any]]]
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    min_repeats: int = 1  # repeats of this comparison at least (short, noisy cases)
    max_repeats: int | None = None  # at most (a case that repeats inside itself)

    def summary(self, variant: str) -> dict[str, Any] | None:
        runs = self.results.get(variant) or []
        if not runs:
            return None
        seconds = statistics.median(r["seconds"] for r in runs)
        out: dict[str, Any] = {
            "repeats": len(runs),
            "seconds": [r["seconds"] for r in runs],
            "median_s": seconds,
            "rss_peak_mb": statistics.median(r["rss_peak_mb"] for r in runs),
            "rss_before_mb": statistics.median(r["rss_before_mb"] for r in runs),
        }
        first = runs[0]
        if "items" in first:
            out["items"] = first["items"]
            out["items_per_s"] = first["items"] / seconds if seconds else None
        if "bytes" in first:
            out["mb_per_s"] = first["bytes"] / 1e6 / seconds if seconds else None
            out["compression_ratio"] = first["bytes"] / first["stored_bytes"]
        if "caller_us_per_event" in first:
            out["caller_us_per_event"] = statistics.median(
                r["caller_us_per_event"] for r in runs)
        if "caller_share" in first:
            out["caller_share"] = statistics.median(r["caller_share"] for r in runs)
        if "how" in first:
            out["how"] = first["how"]
        if "curves" in first:
            out["curves"] = first["curves"]
        return out


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
    n_img = 10 if quick else 200
    out.append(Comparison("re_image", f"512x512 N={n_img}", {
        "no subscriber": ("re_image", {"n": n_img, "shape": [512, 512], "subscriber": False}),
        "callback": ("re_image", {"n": n_img, "shape": [512, 512], "subscriber": True}),
    }))
    for shape, n in frames:
        variants = {}
        for codec in CODECS:
            params = {"n": n, "shape": list(shape), "codec": codec}
            variants[f"callback {codec}"] = ("frames_callback", params)
            variants[f"bulk zarr {codec}"] = ("frames_bulk", params)
        variants["raw file"] = ("frames_raw", {"n": n, "shape": list(shape)})
        out.append(Comparison("frames", f"{shape[0]}x{shape[1]} N={n}", variants))
    for n in ns:
        out.append(Comparison("replay", f"N={n}", {
            "callback": ("replay_callback", {"n": n}),
            "hand-written loop": ("replay_loop", {"n": n}),
            "parse only": ("replay_parse", {"n": n}),
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
    scale = ({"beamtime_sizes": [100, 1_000], "index_beamtimes": [2, 4],
              "runs_per_beamtime": 100, "repeats": 3, "table_sizes": [100, 1_000],
              "frame_sizes": [10, 100]} if quick else
             {"beamtime_sizes": [100, 1_000, 10_000], "index_beamtimes": [10, 100, 1_000],
              "runs_per_beamtime": 1_000, "repeats": 7, "table_sizes": [10_000, 100_000,
              1_000_000], "frame_sizes": [1_000, 10_000, 100_000], "run_repeats": 3})
    out.append(Comparison("scale", "beamtime runs; index runs", {"curves": ("scale", scale)},
                          max_repeats=1))
    return out


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


# -- targets -------------------------------------------------------------------------------------


def ratio(comp: Comparison, num: str, den: str) -> float | None:
    """``num``'s time over ``den``'s: the median of the ratios of each repeat's pair.

    Each repeat runs the variants back to back, so a pair shares the state this
    shared machine was in; the median of the pairs' ratios follows the machine's
    slow and fast spells less than the ratio of the two medians does. If a
    variant missed a repeat, the ratio of the medians.
    """
    a, b = comp.results.get(num) or [], comp.results.get(den) or []
    if not a or not b:
        return None
    if len(a) == len(b):
        return statistics.median(x["seconds"] / y["seconds"] for x, y in zip(a, b, strict=True))
    return statistics.median(x["seconds"] for x in a) / statistics.median(y["seconds"] for y in b)


def targets(comparisons: list[Comparison]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every target of issue 7 as a measured ratio, with pass/miss."""
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, goal: str, ok: bool | None, note: str = "") -> None:
        rows.append({"target": name, "measured": value, "goal": goal,
                     "pass": ok, "note": note})

    for comp in comparisons:
        if comp.case == "ingest":
            for other, goal in (("sqlite loop", 1.0), ("TiledWriter", 20.0)):
                speed = ratio(comp, other, "callback")
                if speed is None:
                    reason = comp.skipped.get(other) or comp.skipped.get("callback") or (
                        "not run at this N")
                    add(f"ingest {comp.label}: callback vs {other} (speed)", None,
                        f">= {goal:g}x", None, f"skipped: {reason}")
                    continue
                add(f"ingest {comp.label}: callback vs {other} (speed)", speed,
                    f">= {goal:g}x", speed >= goal)
        elif comp.case == "re_overhead":
            slower = ratio(comp, "callback", "no subscriber")
            if slower:
                s = comp.summary("callback") or {}
                note = ""
                if "caller_share" in s:
                    note = (f"RunEngine thread inside the callback: {s['caller_us_per_event']:.0f}"
                            f" us/event, {100 * s['caller_share']:.1f}% of the run")
                add(f"RunEngine count {comp.label}: time with callback / without", slower,
                    "<= 1.05x", slower <= 1.05, note)
        elif comp.case == "re_image":
            slower = ratio(comp, "callback", "no subscriber")
            if slower:
                add(f"RunEngine count, image {comp.label}: with callback / without "
                    "(compression on)", slower, "<= 1.2x", slower <= 1.2)
        elif comp.case == "frames":
            for codec in CODECS:
                speed = ratio(comp, f"bulk zarr {codec}", f"callback {codec}")
                if speed:
                    add(f"frames {comp.label} {codec}: callback vs bulk zarr (speed)", speed,
                        ">= 0.8x", speed >= 0.8)
            if comp.label.startswith("2048"):
                from resonance_callback.store._codecs import DEFAULT_CODEC

                speed = ratio(comp, "raw file", f"callback {DEFAULT_CODEC}")
                if speed:
                    add(f"frames {comp.label} {DEFAULT_CODEC}: callback vs raw sequential write "
                        "of the same bytes (speed)", speed, ">= 0.8x", speed >= 0.8)
        elif comp.case == "replay":
            speed = ratio(comp, "hand-written loop", "callback")
            if speed:
                add(f"replay {comp.label}: callback vs hand-written parse-and-insert loop "
                    "(speed)", speed, ">= 1x", speed >= 1.0)
        elif comp.case == "scale":
            s = comp.summary("curves")
            if s:
                from .round3 import scale_targets

                for row in scale_targets(s["curves"]):
                    rows.append(row)
        elif comp.case == "memory":
            peaks = {int(k.split("=")[1]): comp.summary(k) for k in comp.variants}
            ns = sorted(n for n, s in peaks.items() if s)
            if len(ns) >= 2:
                lo, hi = ns[0], ns[-1]  # flat across the whole curve (issue 16)
                growth = peaks[hi]["rss_peak_mb"] / peaks[lo]["rss_peak_mb"]
                add(f"memory: peak RSS N={hi} / N={lo}", growth, "<= 1.10x", growth <= 1.10,
                    f"{peaks[lo]['rss_peak_mb']:.0f} MB -> {peaks[hi]['rss_peak_mb']:.0f} MB")
                first = ns[0]
                pace = peaks[first]["median_s"] / first / (peaks[hi]["median_s"] / hi)
                add(f"one run: events/s at N={hi} / events/s at N={first}", pace, ">= 0.9x",
                    pace >= 0.9, f"{first / peaks[first]['median_s']:.0f} -> "
                    f"{hi / peaks[hi]['median_s']:.0f} events/s")

    # The RunEngine thread must not wait on compression: its time in the callback per
    # frame event against the codec's time per frame (bulk zarr, the same codec).
    codec_pick = pick_codec(comparisons)
    re_img = next((c for c in comparisons if c.case == "re_image"), None)
    frames512 = next((c for c in comparisons if c.case == "frames" and c.label.startswith("512")),
                     None)
    if re_img and frames512:
        from resonance_callback.store._codecs import DEFAULT_CODEC

        s = re_img.summary("callback")
        bulk = frames512.summary(f"bulk zarr {DEFAULT_CODEC}")
        if s and bulk and "caller_us_per_event" in s:
            per_frame_us = 1e6 * bulk["median_s"] / bulk["items"]
            share = s["caller_us_per_event"] / per_frame_us
            add("RunEngine thread per frame event / codec time per frame", share, "<= 0.25x",
                share <= 0.25, f"{s['caller_us_per_event']:.0f} us on the RE thread vs "
                f"{per_frame_us:.0f} us to compress+write a frame")
    if codec_pick.get("pick"):
        from resonance_callback.store._codecs import DEFAULT_CODEC

        add("default codec chosen by measurement", None, codec_pick["pick"],
            DEFAULT_CODEC == codec_pick["pick"], f"frames.DEFAULT_CODEC = {DEFAULT_CODEC}")
    return rows, codec_pick


def pick_codec(comparisons: list[Comparison]) -> dict[str, Any]:
    comp = next((c for c in comparisons if c.case == "frames" and c.label.startswith("512")),
                None)
    if comp is None:
        return {}
    stats = {}
    for codec in CODECS:
        s = comp.summary(f"callback {codec}")
        if s:
            stats[codec] = {"mb_per_s": s["mb_per_s"], "compression_ratio": s["compression_ratio"]}
    if not stats:
        return {}
    smallest = min(1 / v["compression_ratio"] for v in stats.values())
    eligible = {c: v for c, v in stats.items() if 1 / v["compression_ratio"] <= 1.25 * smallest}
    pick = max(eligible, key=lambda c: eligible[c]["mb_per_s"])
    return {"rule": CODEC_RULE, "pick": pick, "by_codec": stats}


# -- reporting ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
    }
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"model name\s*:\s*(.*)", text)
        info["cpu"] = m.group(1).strip() if m else platform.processor()
        mem = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
        info["memory_gb"] = round(int(mem.group(1)) / 1024**2, 1) if mem else None
    except OSError:
        info["cpu"] = platform.processor()
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("resonance-callback", "bluesky", "event-model", "ophyd", "zarr", "numcodecs",
                "numpy", "orjson", "tiled", "bluesky-tiled-plugins", "suitcase-jsonl", "pandas"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            info[pkg] = None
    return info


def _fmt(v: Any, spec: str = ".3g") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def render(report: dict[str, Any]) -> str:
    lines = ["## Targets (ratios measured side by side in this run)", "",
             "Each ratio is the median over repeats of the ratio within one repeat "
             "(the variants of a repeat run back to back).", ""]
    lines.append("| target | measured | goal | result | note |")
    lines.append("|---|---|---|---|---|")
    for t in report["targets"]:
        result = {True: "pass", False: "MISS", None: "skipped"}[t["pass"]]
        unit = t.get("unit", "x")
        if t["measured"] is None:
            measured = "-"
        else:
            measured = (f"{t['measured']:.3f}x" if unit == "x"
                        else f"{t['measured']:.3g} {unit}")
        lines.append(f"| {t['target']} | {measured} | {t['goal']} | {result} | {t['note']} |")
    codec = report.get("codec") or {}
    if codec:
        lines += ["", f"Codec rule: {codec['rule']}. Pick: **{codec['pick']}**.", ""]
        lines.append("| codec | callback MB/s (512x512) | compression ratio |")
        lines.append("|---|---|---|")
        for name, v in codec["by_codec"].items():
            lines.append(f"| {name} | {v['mb_per_s']:.0f} | {v['compression_ratio']:.2f} |")
    lines += ["", "## Cases (median of repeats; each variant in its own process)", ""]
    lines.append("| case | size | variant | median s | items/s | MB/s | peak RSS MB | note |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for c in report["cases"]:
        for name, s in c["variants"].items():
            if s is None:
                lines.append(f"| {c['case']} | {c['label']} | {name} | - | - | - | - | "
                             f"skipped: {c['skipped'].get(name, '')} |")
                continue
            note = []
            if "compression_ratio" in s and s["compression_ratio"]:
                note.append(f"ratio {s['compression_ratio']:.2f}")
            if "caller_us_per_event" in s:
                note.append(f"{s['caller_us_per_event']:.0f} us/event on caller thread")
            if "how" in s:
                note.append(s["how"])
            lines.append(
                f"| {c['case']} | {c['label']} | {name} | {s['median_s']:.4g} | "
                f"{_fmt(s.get('items_per_s'), '.0f')} | {_fmt(s.get('mb_per_s'), '.0f')} | "
                f"{s['rss_peak_mb']:.0f} | {'; '.join(note)} |")
    m = report["machine"]
    lines += ["", f"Machine: {m.get('cpu')}, {m.get('cpus')} cores, {m.get('memory_gb')} GB, "
              f"{m.get('platform')}; Python {m.get('python')}, SQLite {m.get('sqlite')}, "
              f"zarr {m.get('zarr')}, numcodecs {m.get('numcodecs')}, bluesky {m.get('bluesky')}, "
              f"tiled {m.get('tiled')}, orjson {m.get('orjson')}. "
              f"Repeats: {report['config']['repeats']}; quick: {report['config']['quick']}; "
              f"took {report['config']['wall_s']:.0f} s."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="small smoke sizes and one repeat (checks that every case runs)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--repeats", type=int, default=None,
                        help="repeats of every variant (default 5; 1 with --quick)")
    parser.add_argument("--only", default=None,
                        help="comma-separated cases to run (ingest, re_overhead, re_image, "
                             "frames, replay, reader, memory, scale)")
    parser.add_argument("--tiled-max", type=int, default=10_000,
                        help="largest N for TiledWriter (default 10000; 100000 adds ~8 minutes)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="draw the scale curves into this PNG (matplotlib)")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds one variant may take before it counts as skipped")
    args = parser.parse_args(argv)
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
    from .round3 import plot, render_scale

    print(render(report))
    print(render_scale(report))
    if args.plot:
        print(f"\nplot: {plot(report, args.plot)}", file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.out}", file=sys.stderr)
    return 0
