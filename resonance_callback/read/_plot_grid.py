"""2-D scans drawn as bluesky's ``LiveGrid`` / ``LiveScatter`` draw them, on stored data.

A grid scan (``grid_scan``, ``rel_grid_scan``, ``list_grid_scan``; the start
document has a two-entry ``shape`` and ``extents``) is a heat map: event
``seq_num`` fills cell ``unravel(seq_num - 1, shape)`` (slow axis the rows, fast
axis the columns), reversing the fast index on odd rows when the fast axis snakes
(the start's ``snaking``, or ``snake_axes`` for ``list_grid_scan``). Unlike
``LiveGrid``, each row and column is placed where its motor actually was (the
mean of its readings): a relative scan is drawn in absolute positions and a
descending or unordered position list in order. Cells never measured (an aborted
scan) stay blank. Other 2-D scans (a spiral) are a scatter coloured by the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from resonance_callback._extras import needs_extra

if TYPE_CHECKING:  # matplotlib is optional (extra "plot"); imported when plotting
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

__all__ = ["MAX_CELLS", "draw_grid", "draw_scatter", "grid_cells", "grid_shape"]

#: A larger declared ``shape`` is drawn as a scatter of the points measured, so a
#: malformed start cannot make the heat map allocate more than 32 MB.
MAX_CELLS = 4_000_000


def grid_shape(start: dict[str, Any]) -> tuple[int, int] | None:
    """The ``(rows, columns)`` of a 2-D grid scan's start, or None if it is not one."""
    hints = start.get("hints")
    if isinstance(hints, dict) and hints.get("gridding") == "rectilinear_nonsequential":
        return None  # cells are not filled in seq_num order
    shape, extents = start.get("shape"), start.get("extents")
    if not (isinstance(shape, list | tuple) and isinstance(extents, list | tuple)
            and len(shape) == 2 and len(extents) == 2):
        return None
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 100_000
               for n in shape):
        return None
    if shape[0] * shape[1] > MAX_CELLS:
        return None
    return shape[0], shape[1]


def _fast_snakes(start: dict[str, Any]) -> bool:
    snaking = start.get("snaking")
    if isinstance(snaking, list | tuple) and len(snaking) == 2:
        return bool(snaking[1])
    # list_grid_scan records only repr(snake_axes): True, False or a list of motors.
    snake_axes = start.get("snake_axes")
    motors = start.get("motors")
    if not isinstance(snake_axes, str):
        return False
    if snake_axes.strip() in ("True", "False"):
        return snake_axes.strip() == "True"
    fast = motors[1] if isinstance(motors, list | tuple) and len(motors) == 2 else None
    return isinstance(fast, str) and f"name='{fast}'" in snake_axes


def grid_cells(seq_nums: np.ndarray, shape: tuple[int, int],
               snake: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(rows, columns, inside)``: each event's cell, and which fit in the grid."""
    i = np.asarray(seq_nums, dtype=np.int64) - 1
    inside = (i >= 0) & (i < shape[0] * shape[1])
    i = np.where(inside, i, 0)
    rows, cols = i // shape[1], i % shape[1]
    if snake:
        cols = np.where(rows % 2 == 1, shape[1] - 1 - cols, cols)
    return rows, cols, inside


def _centres(index: np.ndarray, positions: np.ndarray | None, n: int,
             extent: Any) -> np.ndarray:
    """Where each of the ``n`` rows (columns) is: its readings' mean, else the extents."""
    try:
        lo, hi = float(extent[0]), float(extent[-1])
    except (TypeError, ValueError, IndexError, KeyError):
        lo, hi = 0.0, float(n - 1)
    planned = np.linspace(lo, hi, n)
    if positions is None:
        return planned
    ok = np.isfinite(positions)
    counts = np.bincount(index[ok], minlength=n)[:n]
    sums = np.bincount(index[ok], weights=positions[ok], minlength=n)[:n]
    measured = np.divide(sums, counts, out=planned.copy(), where=counts > 0)
    if np.unique(measured).size < n:  # a motor that did not move: keep the plan
        return planned
    return measured


def _edges(centres: np.ndarray) -> tuple[float, float, bool]:
    """The outer edges of cells centred on sorted ``centres``, and whether they are even."""
    if centres.size == 1:
        return centres[0] - 0.5, centres[0] + 0.5, True
    steps = np.diff(centres)
    even = bool(np.allclose(steps, steps.mean(), rtol=1e-3, atol=0.0))
    return centres[0] - steps[0] / 2, centres[-1] + steps[-1] / 2, even


def draw_grid(fig: Figure, ax: Axes, start: dict[str, Any], seq_nums: np.ndarray,
              values: np.ndarray, axes: tuple[np.ndarray | None, np.ndarray | None],
              labels: tuple[str, str], field: str) -> AxesImage:
    """Draw ``values`` as a heat map on ``ax``; ``axes`` are the (slow, fast) readings."""
    with needs_extra("plot", "matplotlib", "plotting"):
        from matplotlib.image import NonUniformImage

    shape = grid_shape(start)
    assert shape is not None
    rows, cols, inside = grid_cells(seq_nums, shape, _fast_snakes(start))
    grid = np.full(shape, np.nan)
    grid[rows[inside], cols[inside]] = values[inside]
    extents = start["extents"]
    slow, fast = axes
    ys = _centres(rows[inside], None if slow is None else slow[inside], shape[0], extents[0])
    xs = _centres(cols[inside], None if fast is None else fast[inside], shape[1], extents[1])
    by_y, by_x = np.argsort(ys, kind="stable"), np.argsort(xs, kind="stable")
    grid, ys, xs = grid[by_y][:, by_x], ys[by_y], xs[by_x]
    bottom, top, even_y = _edges(ys)
    left, right, even_x = _edges(xs)
    if even_x and even_y:
        image: AxesImage = ax.imshow(grid, origin="lower", interpolation="nearest",
                                     extent=(left, right, bottom, top), aspect="auto")
    else:
        image = NonUniformImage(ax, interpolation="nearest", origin="lower",
                                extent=(left, right, bottom, top))
        image.set_data(xs, ys, grid)
        ax.add_image(image)
        ax.set_xlim(left, right)
        ax.set_ylim(bottom, top)
    ax.set_xlabel(labels[1])
    ax.set_ylabel(labels[0])
    fig.colorbar(image, ax=ax, label=field)
    return image


def draw_scatter(fig: Figure, ax: Axes, xs: np.ndarray, ys: np.ndarray, values: np.ndarray,
                 labels: tuple[str, str], field: str) -> None:
    """Draw ``values`` at their (x, y) positions, coloured, as ``LiveScatter`` does."""
    points = ax.scatter(xs, ys, c=values, marker="s", s=50)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    fig.colorbar(points, ax=ax, label=field)
