"""Two ``read()`` Datasets compared variable by variable: presence, dims, dtype, values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["VariableRow", "compare_datasets", "values_equal"]


@dataclass(frozen=True)
class VariableRow:
    """One variable of one stream: ``equal`` or ``differs`` with what and how."""

    variable: str
    status: str  # "equal" or "differs"
    what: tuple[str, ...]  # of "missing", "extra", "dims", "dtype", "shape", "values"
    detail: str


def values_equal(a: Any, b: Any) -> tuple[bool, str]:
    """Whether two arrays hold the same values (NaN equal to NaN); a note when only close."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False, f"shape {a.shape} vs {b.shape}"
    floating = a.dtype.kind in "fc" and b.dtype.kind in "fc"
    try:
        if np.array_equal(a, b, equal_nan=floating):
            return True, ""
    except (TypeError, ValueError):
        pass
    if a.dtype.kind in "biufc" and b.dtype.kind in "biufc":
        # Tight tolerances: timestamps (~1.7e9 s) would pass np.allclose's defaults.
        if np.allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True):
            return True, "close, not identical"
        diff = np.nanmax(np.abs(a.astype("f8") - b.astype("f8"))) if a.size else 0.0
        return False, f"max |difference| {diff:g}"
    if a.dtype == object or b.dtype == object:  # ragged or mixed: element by element
        same = all(values_equal(x, y)[0] for x, y in zip(a.ravel(), b.ravel(), strict=True))
        return (True, "") if same else (False, "elements differ")
    return False, "values differ"


def _brief(value: Any, limit: int = 60) -> str:
    text = np.array2string(np.asarray(value), threshold=6, max_line_width=1000)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare_datasets(expected: Any, got: Any) -> list[VariableRow]:
    """Compare TiledWriter's Dataset (``expected``) with ours (``got``), per variable.

    Every variable (data and coordinates) of either side gets one row, in the
    order ``expected`` lists them, then those only ``got`` has.
    """
    rows: list[VariableRow] = []
    theirs, ours = dict(expected.variables), dict(got.variables)
    for name, var in theirs.items():
        if name not in ours:
            rows.append(VariableRow(str(name), "differs", ("missing",),
                                    f"only TiledWriter has it: dims {var.dims}, "
                                    f"dtype {var.dtype}, shape {var.shape}"))
            continue
        mine = ours[name]
        what: list[str] = []
        details: list[str] = []
        if tuple(var.dims) != tuple(mine.dims):
            what.append("dims")
            details.append(f"dims {tuple(var.dims)} vs {tuple(mine.dims)}")
        if var.dtype != mine.dtype:
            what.append("dtype")
            details.append(f"dtype {var.dtype} vs {mine.dtype}")
        same, note = values_equal(var.values, mine.values)
        if not same:
            what.append("shape" if note.startswith("shape") else "values")
            if not note.startswith("shape"):
                note = f"{note}: {_brief(var.values)} vs {_brief(mine.values)}"
            details.append(note)
        elif note:
            details.append(note)
        rows.append(VariableRow(str(name), "differs" if what else "equal", tuple(what),
                                "; ".join(details)))
    for name, var in ours.items():
        if name not in theirs:
            rows.append(VariableRow(str(name), "differs", ("extra",),
                                    f"only we have it: dims {var.dims}, dtype {var.dtype}, "
                                    f"shape {var.shape}"))
    return rows
