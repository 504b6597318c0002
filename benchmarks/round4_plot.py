"""Draw issue 25's cost curves from the saved results into one PNG.

``python -m benchmarks.round4_plot OUT.png [--reads F] [--metadata F] [--serve F]``

Four panels, each against the size that should not matter (log-log; each dotted
line is linear from its curve's smallest size, so a curve below it grows less than
linearly and a flat curve does not grow):

- one frame of a run against frames per run (``reads-results.json``);
- ``table()`` against events per run (``reads-results.json``);
- storing a start against the size of its metadata (``metadata-store-results.json``: the
  ``metadata`` case's store variants, 5 repeats on a quiet machine);
- ``serve``'s recovery after a crash against documents in the stream
  (``round4-serve.json``).

A results file that is missing, or holds no such case, leaves its panel empty
with a note saying so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .report import save_png

HERE = Path(__file__).resolve().parent

Curves = dict[str, dict[int, float]]


def _load(path: Path) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded


def _by_size(values: dict[str, float], scale: float = 1e3) -> dict[int, float]:
    return {int(n): scale * float(s) for n, s in values.items()}


def read_curves(reads: dict[str, Any]) -> tuple[Curves, Curves]:
    """One-frame reads (ms by frames) and ``table()`` (ms by events) from the reads case."""
    after = reads.get("after") or {}
    frames = {name: _by_size(by) for name, by in (after.get("frames_s") or {}).items()}
    tables = {name: _by_size(by) for name, by in (after.get("tables_s") or {}).items()}
    return frames, tables


def _case(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next((c for c in report.get("cases", []) if c.get("case") == name), {})


def metadata_curve(report: dict[str, Any]) -> Curves:
    """Storing a start (ms by list elements) from the metadata case."""
    out: dict[int, float] = {}
    for variant, stats in (_case(report, "metadata").get("variants") or {}).items():
        words = variant.split()
        if stats and len(words) == 2 and words[0] == "store" and words[1].startswith("N="):
            out[int(words[1][2:])] = 1e3 * float(stats["median_s"])
    return {"store a start": out} if out else {}


def recovery_curve(report: dict[str, Any]) -> Curves:
    """``serve``'s recovery (ms by documents in the stream) from the serve case."""
    for stats in (_case(report, "serve").get("variants") or {}).values():
        recovery = ((stats or {}).get("curves") or {}).get("recovery") or {}
        if recovery:
            return {"recovery": {int(n): 1e3 * float(r["seconds"])
                                 for n, r in recovery.items()}}
    return {}


def _panel(ax: Any, curves: Curves, xlabel: str, title: str) -> None:
    if not curves:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        ax.set(title=title)
        return
    for name, by in curves.items():
        sizes = sorted(by)
        line = ax.plot(sizes, [by[n] for n in sizes], marker="o", label=name)[0]
        first = by[sizes[0]]
        ax.plot(sizes, [first * n / sizes[0] for n in sizes], linestyle=":", linewidth=1,
                color=line.get_color(), alpha=0.5)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="ms", title=title)
    ax.legend(fontsize=7)


def plot(reads: dict[str, Any], metadata: dict[str, Any], serve: dict[str, Any],
         path: Path) -> Path:
    """Draw the four panels into ``path`` (a PNG); return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames, tables = read_curves(reads)
    fig, axes = plt.subplots(1, 4, figsize=(21, 5))
    _panel(axes[0], frames, "frames in the run", "one frame (dotted: linear)")
    _panel(axes[1], tables, "events in the run", "table() of a 3-field stream")
    _panel(axes[2], metadata_curve(metadata), "elements in the start's list",
           "storing a start")
    _panel(axes[3], recovery_curve(serve), "documents in the stream",
           "serve: recovery after a crash")
    return save_png(fig, path, dpi=80)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, draw the PNG, print its path."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.round4_plot",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--reads", type=Path, default=HERE / "reads-results.json")
    parser.add_argument("--metadata", type=Path, default=HERE / "metadata-store-results.json")
    parser.add_argument("--serve", type=Path, default=HERE / "round4-serve.json")
    args = parser.parse_args(argv)
    print(plot(_load(args.reads), _load(args.metadata), _load(args.serve), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
