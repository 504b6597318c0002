"""Issue 16's scale targets, their tables and the plot of the curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .report import save_png

#: Beamtime queries whose answer has the same size at every beamtime size.
CONSTANT_ANSWER = ("open", "filter sample", "filter plan", "filter metadata key", "filter time",
                   "bt[scan_id]", "bt[-1]")
#: The before of the metadata-key filter (no side table); shown, not a target.
LEGACY = "filter metadata key, no run_metadata (schema 2)"
BEAMTIME_MS, INDEX_MS, FLAT_AT_MOST = 50.0, 100.0, 3.0


def _row(name: str, value: float, goal: str, ok: bool, note: str = "",
         unit: str = "x") -> dict[str, Any]:
    return {"target": name, "measured": value, "goal": goal, "pass": ok, "note": note,
            "unit": unit}


def scale_targets(curves: dict[str, Any]) -> list[dict[str, Any]]:
    """The beamtime and master-index targets from the measured curves."""
    rows = []
    bt = curves["beamtime"]
    sizes = [int(n) for n in bt["sizes"]]
    lo, hi = str(sizes[0]), str(sizes[-1])
    for query, by in bt["seconds"].items():
        if query == LEGACY:
            continue
        ms = 1e3 * by[hi]
        rows.append(_row(f"beamtime of {hi} runs: {query}", ms, f"<= {BEAMTIME_MS:g} ms",
                         ms <= BEAMTIME_MS, f"{1e3 * by[lo]:.2f} ms at {lo} runs", "ms"))
        if query in CONSTANT_ANSWER:
            growth = by[hi] / by[lo]
            rows.append(_row(f"beamtime {query}: time at {hi} runs / at {lo} (constant answer)",
                             growth, f"<= {FLAT_AT_MOST:g}x", growth <= FLAT_AT_MOST))
    legacy = bt["seconds"].get(LEGACY)
    if legacy:
        rows.append(_row(f"beamtime of {hi} runs: metadata-key filter, before (no index) / now",
                         legacy[hi] / bt["seconds"]["filter metadata key"][hi], "-", True,
                         f"{1e3 * legacy[hi]:.1f} ms before; grew {legacy[hi] / legacy[lo]:.0f}x "
                         f"from {lo} runs"))
    ix = curves["index"]
    sizes = [int(n) for n in ix["sizes"]]
    lo, hi = str(sizes[0]), str(sizes[-1])
    for query, by in ix["seconds"].items():
        if query.startswith("live"):
            growth = by[hi] / by[lo]
            rows.append(_row(f"index: live indexing per run at {hi} runs / at {lo}", growth,
                             "<= 1.5x (flat)", growth <= 1.5,
                             f"{1e3 * by[lo]:.2f} -> {1e3 * by[hi]:.2f} ms per run"))
            continue
        ms = 1e3 * by[hi]
        rows.append(_row(f"index of {hi} runs: search by {query}", ms, f"<= {INDEX_MS:g} ms",
                         ms <= INDEX_MS, f"{1e3 * by[lo]:.2f} ms at {lo} runs", "ms"))
    if "run" in curves:
        from .scale_runs import run_targets

        rows += run_targets(curves["run"], _row)
    return rows


def _curves(report: dict[str, Any]) -> dict[str, Any] | None:
    for case in report["cases"]:
        if case["case"] == "scale":
            s = case["variants"].get("curves")
            return s["curves"] if s else None
    return None


def render_scale(report: dict[str, Any]) -> str:
    """Markdown tables of the curves: milliseconds per query at every size."""
    curves = _curves(report)
    if not curves:
        return ""
    lines = []
    for key, title in (("beamtime", "runs in the beamtime"), ("index", "runs in the index")):
        c = curves[key]
        sizes = [str(n) for n in c["sizes"]]
        lines += ["", f"## Scale: ms per query against {title} "
                  "(median of interleaved rounds)", "",
                  "| query | " + " | ".join(f"{int(n):,}" for n in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]
        for query, by in c["seconds"].items():
            lines.append(f"| {query} | " + " | ".join(f"{1e3 * by[n]:.3g}" for n in sizes) + " |")
        lines.append("| (building the data, s) | " + " | ".join(
            f"{c['build_s'][n]:.1f}" for n in sizes) + " |")
    if "run" in curves:
        c = curves["run"]
        lines += ["", "## Scale: ms against the size of one run (median of interleaved rounds)",
                  "", "| query | sizes | ms | building the run, s |", "|---|---|---|---|"]
        for query, by in c["seconds"].items():
            kind = "table" if query == "table()" else "frames"
            ns = sorted(by, key=int)
            lines.append(f"| {query} | " + " / ".join(f"{int(n):,}" for n in ns) + " | "
                         + " / ".join(f"{1e3 * by[n]:.3g}" for n in ns) + " | "
                         + " / ".join(f"{c['build_s'][f'{kind} {n}']:.1f}" for n in ns) + " |")
    mem = next((c for c in report["cases"] if c["case"] == "memory"), None)
    if mem:
        lines += ["", "## Scale: one run of N scalar events through the callback", "",
                  "| N | events/s | peak RSS MB |", "|---|---|---|"]
        for name, s in mem["variants"].items():
            if s:
                lines.append(f"| {name[2:]} | {s['items_per_s']:.0f} | {s['rss_peak_mb']:.0f} |")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> Path:
    """Draw the curves (log-log, ms against size) into a PNG; return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = _curves(report)
    mem = next((c for c in report["cases"] if c["case"] == "memory"), None)
    fig, axes = plt.subplots(1, 4, figsize=(21, 5))
    for ax, key, title, limit in ((axes[0], "beamtime", "beamtime: runs", BEAMTIME_MS),
                                  (axes[1], "index", "master index: runs", INDEX_MS)):
        if not curves:
            continue
        c = curves[key]
        sizes = [int(n) for n in c["sizes"]]
        for query, by in c["seconds"].items():
            ax.plot(sizes, [1e3 * by[str(n)] for n in sizes], marker="o", label=query)
        ax.axhline(limit, color="red", linestyle="--", linewidth=1, label=f"{limit:g} ms target")
        ax.set(xscale="log", yscale="log", xlabel=title, ylabel="ms per query", title=title)
        ax.legend(fontsize=7)
    if mem:
        ns = [(int(k[2:]), s) for k, s in mem["variants"].items() if s]
        ax = axes[2]
        ax.plot([n for n, _ in ns], [s["items_per_s"] for _, s in ns], marker="o",
                label="events/s")
        ax.set(xscale="log", xlabel="events in one run", ylabel="events/s",
               title="one run through the callback")
        ax.set_ylim(bottom=0)
        twin = ax.twinx()
        twin.plot([n for n, _ in ns], [s["rss_peak_mb"] for _, s in ns], marker="s",
                  color="tab:orange", label="peak RSS MB")
        twin.set(ylabel="peak RSS MB")
        twin.set_ylim(bottom=0)
        ax.legend(loc="lower left", fontsize=7)
        twin.legend(loc="lower right", fontsize=7)
    if curves and "run" in curves:
        ax = axes[3]
        for query, by in curves["run"]["seconds"].items():
            ns = sorted(int(n) for n in by)
            ax.plot(ns, [1e3 * by[str(n)] for n in ns], marker="o",
                    label=f"{query} ({'events' if query == 'table()' else 'frames'})")
            ax.plot(ns, [1e3 * by[str(ns[0])] * n / ns[0] for n in ns], linestyle=":",
                    color="grey", linewidth=1)
        ax.set(xscale="log", yscale="log", xlabel="events / frames in the run",
               ylabel="ms", title="one run: table(), one frame (dotted: linear)")
        ax.legend(fontsize=7)
    return save_png(fig, path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.round3 OUT.png REPORT.json...``: plot the curves of saved runs.

    The cases of several reports (say one run ``--only scale`` and one with the
    ``memory`` case) are drawn together; the tables are printed as markdown.
    """
    import json
    import sys

    args = sys.argv[1:] if argv is None else argv
    merged: dict[str, Any] = {"cases": []}
    for name in args[1:]:
        merged["cases"] += json.loads(Path(name).read_text())["cases"]
    print(render_scale(merged))
    print(plot(merged, Path(args[0])), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
