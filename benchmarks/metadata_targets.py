"""Targets of the metadata case: storing and upgrading start metadata is linear in its size."""

from __future__ import annotations

from typing import Any

from .comparison import Comparison

#: Time per list element at the largest N over at the smallest: linear is 1x; the
#: schema-3 view was quadratic (100x from 1k to 100k elements, ~10,000x in total).
LINEAR_GOAL = 2.0


def _per_element_ms(comp: Comparison, name: str) -> float | None:
    s = comp.summary(name)
    return None if not s else 1e3 * s["median_s"] / s["items"]


def metadata_targets(comp: Comparison) -> list[dict[str, Any]]:
    """Per-element growth of store and upgrade, and the speed-up over the schema-3 view."""
    rows: list[dict[str, Any]] = []
    sizes = sorted({int(name.split("N=")[1].split()[0]) for name in comp.variants})
    lo, hi = sizes[0], sizes[-1]
    for what, label in (("store", "store a start"), ("upgrade", "upgrade a schema-2 file")):
        a, b = _per_element_ms(comp, f"{what} N={lo}"), _per_element_ms(comp, f"{what} N={hi}")
        if a is None or b is None:
            rows.append({"target": f"metadata: {label}, time per element N={hi} / N={lo}",
                         "measured": None, "goal": f"<= {LINEAR_GOAL:g}x", "pass": None,
                         "note": "skipped: " + "; ".join(comp.skipped.values())})
            continue
        growth = b / a
        rows.append({"target": f"metadata: {label}, time per element N={hi} / N={lo}",
                     "measured": growth, "goal": f"<= {LINEAR_GOAL:g}x (linear)",
                     "pass": growth <= LINEAR_GOAL,
                     "note": f"{1e3 * a:.2f} us/element at {lo}, {1e3 * b:.2f} at {hi}; "
                             f"{a * lo:.1f} ms -> {b * hi:.0f} ms"})
    for n in sizes:
        old = comp.summary(f"store N={n} schema-3 view")
        new = comp.summary(f"store N={n}")
        if old and new:
            rows.append({"target": f"metadata: store N={n}, schema-3 view / now",
                         "measured": old["median_s"] / new["median_s"], "goal": "-",
                         "pass": True,
                         "note": f"{1e3 * old['median_s']:.0f} ms before, "
                                 f"{1e3 * new['median_s']:.1f} ms now"})
    return rows
