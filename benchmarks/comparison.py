"""A comparison: variants measured side by side, and their summaries."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


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
