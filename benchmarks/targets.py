"""Issue 16's ratio targets from the measured comparisons, and the codec pick."""

from __future__ import annotations

import statistics
from typing import Any

from .comparison import Comparison

#: How the default codec is picked from the frames results (see benchmarks/README.md).
CODEC_RULE = ("fastest through the callback at 512x512 (median MB/s of raw frames), unless its "
              "stored size is more than 1.25x the smallest; then the fastest of those within it")

CODECS = ("zstd", "blosc-lz4", "blosc-zstd")


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
            for variant, what in (("callback", "callback, default codec"),
                                  ("callback uncompressed", "callback, uncompressed")):
                slower = ratio(comp, variant, "no subscriber")
                if slower:
                    serializer = ratio(comp, "suitcase-msgpack", "no subscriber")
                    note = (f"suitcase-msgpack in the same run: {serializer:.3f}x"
                            if serializer else "")
                    add(f"RunEngine count, image {comp.label}: {what} / no subscriber",
                        slower, "<= 1.2x", slower <= 1.2, note)
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
        elif comp.case == "frames_s3":
            speed = ratio(comp, "callback local disk", "callback S3")
            if speed:
                s = comp.summary("callback S3") or {}
                add(f"frames {comp.label}: to a local S3 server vs to local disk (speed)", speed,
                    ">= 0.5x", speed >= 0.5, f"{s.get('mb_per_s') or 0:.0f} MB/s to S3")
        elif comp.case == "replay":
            speed = ratio(comp, "hand-written loop", "callback")
            if speed:
                add(f"replay {comp.label}: callback vs hand-written parse-and-insert loop "
                    "(speed)", speed, ">= 1x", speed >= 1.0)
            again = ratio(comp, "callback", "callback, stored already")
            if again:
                add(f"replay {comp.label}: a file stored already (every document skipped) vs "
                    "the first pass (speed)", again, ">= 1x", again >= 1.0)
        elif comp.case == "metadata":
            from .metadata_targets import metadata_targets

            rows.extend(metadata_targets(comp))
        elif comp.case == "serve":
            s = comp.summary("figures")
            if s:
                from .serve_cases import serve_targets

                rows.extend(serve_targets(s["curves"]))
        elif comp.case == "scale":
            s = comp.summary("curves")
            if s:
                from .round3 import scale_targets

                for row in scale_targets(s["curves"]):
                    rows.append(row)
        elif comp.case == "reads":
            s = comp.summary("curves")
            if s:
                from .read_curves import read_targets
                from .round3 import _row

                rows.extend(read_targets(s["curves"], _row))
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
