"""The machine's description and the markdown table of targets and variants."""

from __future__ import annotations

import os
import platform
import re
import sqlite3
from pathlib import Path
from typing import Any


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


def save_png(fig: Any, path: Path, dpi: int) -> Path:
    """Write a matplotlib figure to ``path`` (its folder made), close it, return the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
