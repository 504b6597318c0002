"""Where each event of a grid scan sits on its grid, read from the stored start document.

Shared by the plot (a heat map) and the NeXus export (an ``NXdata`` on the grid).
A start is a grid when its ``hints.gridding`` is ``"rectilinear"`` (``grid_scan``,
``rel_grid_scan``) or absent (``list_grid_scan`` sets none), never
``"rectilinear_nonsequential"`` (``spiral_square``: cells not filled in order), and
its ``shape`` has at least two positive entries of at most :data:`MAX_CELLS` cells
in all. Event ``seq_num`` fills cell ``unravel(seq_num - 1, shape)`` (slowest axis
first); a snaking axis runs backwards whenever the count of lines before it is odd,
as bluesky's ``snake_cyclers`` lays them out. Which axes snake is the start's
``snaking`` (``grid_scan``), else ``list_grid_scan``'s ``snake_axes`` (stored as its
``repr``: ``True``, ``False``, ``None`` or a list of motors, matched to the start's
``motors`` by name). Each line of the grid (a row, a column) is placed where its
motor was: the mean of the finite readings on it; from the start's ``extents``
(evenly, first to last) where none was read or the motor did not move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MAX_CELLS", "Grid", "grid_cells", "line_positions", "scan_grid"]

#: Largest grid laid out (cells: 32 MB of float64 per field); a start declaring a
#: larger ``shape`` (nobody checks it) is not treated as a grid.
MAX_CELLS = 4_000_000
#: Largest number of lines along one axis.
MAX_LINES = 100_000


@dataclass(frozen=True)
class Grid:
    """A grid scan's ``shape`` (slowest axis first), which axes snake, and ``extents``.

    ``extents`` has one entry per axis (whatever the start holds, checked when
    used), or is empty when the start gives none that fit.
    """

    shape: tuple[int, ...]
    snaking: tuple[bool, ...]
    extents: tuple[Any, ...]


def _snaking(start: dict[str, Any], ndim: int) -> tuple[bool, ...]:
    snaking = start.get("snaking")
    if isinstance(snaking, list | tuple):
        flags = [bool(s) for s in snaking]
    else:
        snake_axes = start.get("snake_axes")
        motors = start.get("motors")
        motors = list(motors) if isinstance(motors, list | tuple) else []
        text = snake_axes.strip() if isinstance(snake_axes, str) else ""
        if text == "True":
            flags = [False] + [True] * (ndim - 1)
        else:  # "False", "None", or a list of motors' reprs
            flags = [isinstance(m, str) and f"name='{m}'" in text for m in motors]
    return tuple((flags + [False] * ndim)[:ndim])


def scan_grid(start: dict[str, Any]) -> Grid | None:
    """The grid of a run's start document (module documentation), or None if it has none."""
    hints = start.get("hints")
    gridding = hints.get("gridding") if isinstance(hints, dict) else None
    if gridding not in (None, "rectilinear"):
        return None
    shape = start.get("shape")
    if not (isinstance(shape, list | tuple) and len(shape) >= 2
            and all(type(n) is int and 0 < n <= MAX_LINES for n in shape)
            and math.prod(shape) <= MAX_CELLS):
        return None
    extents = start.get("extents")
    if not (isinstance(extents, list | tuple) and len(extents) == len(shape)):
        extents = ()
    return Grid(shape=tuple(shape), snaking=_snaking(start, len(shape)), extents=tuple(extents))


def grid_cells(seq_nums: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(cells, inside)``: each event's cell ``(n, ndim)`` and which fit in the grid.

    The cell of an event outside the grid (a ``seq_num`` below 1 or past the last
    cell) is ``(0, ...)``; select with ``inside``.
    """
    flat = np.asarray(seq_nums, dtype=np.int64).reshape(-1) - 1
    inside = (flat >= 0) & (flat < math.prod(grid.shape))
    flat = np.where(inside, flat, 0)
    cells = np.stack(np.unravel_index(flat, grid.shape), axis=1)
    for dim in range(1, len(grid.shape)):
        if grid.snaking[dim]:
            lines_before = flat // math.prod(grid.shape[dim:])
            turned = lines_before % 2 == 1
            cells[turned, dim] = grid.shape[dim] - 1 - cells[turned, dim]
    return cells, inside


def line_positions(grid: Grid, dim: int, index: np.ndarray,
                   readings: np.ndarray | None) -> np.ndarray:
    """Where each line of axis ``dim`` is (module documentation).

    Parameters
    ----------
    grid : Grid
        The scan's grid.
    dim : int
        The axis.
    index : numpy.ndarray
        Each event's line along ``dim`` (events inside the grid only).
    readings : numpy.ndarray or None
        The axis' motor reading of each of those events; None if not read.

    Returns
    -------
    numpy.ndarray
        One position per line, ``grid.shape[dim]`` of them.
    """
    n = grid.shape[dim]
    try:
        extent = grid.extents[dim]
        low, high = float(extent[0]), float(extent[-1])
    except (TypeError, ValueError, IndexError, KeyError):
        low, high = 0.0, float(n - 1)
    planned = np.linspace(low, high, n)
    if readings is None:
        return planned
    readings = np.asarray(readings, dtype=float)
    ok = np.isfinite(readings)
    counts = np.bincount(index[ok], minlength=n)[:n]
    sums = np.bincount(index[ok], weights=readings[ok], minlength=n)[:n]
    measured = np.divide(sums, counts, out=planned.copy(), where=counts > 0)
    if np.unique(measured).size < n:  # a motor that did not move: keep the plan
        return planned
    return measured
