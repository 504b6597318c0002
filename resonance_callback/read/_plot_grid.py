"""2-D scans drawn as bluesky's ``LiveGrid`` / ``LiveScatter`` draw them, on stored data.

A grid scan (``grid_scan``, ``rel_grid_scan``, ``list_grid_scan``, snaking or not;
:mod:`resonance_callback.read._grid` says which starts are grids, where each event
sits and where each line is) of two axes is a heat map, slow axis the rows. Unlike
``LiveGrid``, each row and column is placed where its motor actually was (the
mean of its readings): a relative scan is drawn in absolute positions and a
descending or unordered position list in order. Cells never measured (an aborted
scan) stay blank. Other 2-D scans (a spiral) are a scatter coloured by the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from resonance_callback._extras import needs_extra
from resonance_callback.read._grid import Grid, grid_cells, line_positions

if TYPE_CHECKING:  # matplotlib is optional (extra "plot"); imported when plotting
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

__all__ = ["draw_grid", "draw_scatter"]


def _edges(centres: np.ndarray) -> tuple[float, float, bool]:
    """The outer edges of cells centred on sorted ``centres``, and whether they are even."""
    if centres.size == 1:
        return centres[0] - 0.5, centres[0] + 0.5, True
    steps = np.diff(centres)
    even = bool(np.allclose(steps, steps.mean(), rtol=1e-3, atol=0.0))
    return centres[0] - steps[0] / 2, centres[-1] + steps[-1] / 2, even


def draw_grid(fig: Figure, ax: Axes, grid: Grid, seq_nums: np.ndarray,
              values: np.ndarray, axes: tuple[np.ndarray | None, np.ndarray | None],
              labels: tuple[str, str], field: str) -> AxesImage:
    """Draw ``values`` on the 2-D ``grid`` on ``ax``; ``axes`` are the (slow, fast) readings."""
    with needs_extra("plot", "matplotlib", "plotting"):
        from matplotlib.image import NonUniformImage

    cells, inside = grid_cells(seq_nums, grid)
    rows, cols = cells[inside, 0], cells[inside, 1]
    image_data = np.full(grid.shape, np.nan)
    image_data[rows, cols] = values[inside]
    slow, fast = axes
    ys = line_positions(grid, 0, rows, None if slow is None else slow[inside])
    xs = line_positions(grid, 1, cols, None if fast is None else fast[inside])
    by_y, by_x = np.argsort(ys, kind="stable"), np.argsort(xs, kind="stable")
    grid_data, ys, xs = image_data[by_y][:, by_x], ys[by_y], xs[by_x]
    bottom, top, even_y = _edges(ys)
    left, right, even_x = _edges(xs)
    if even_x and even_y:
        image: AxesImage = ax.imshow(grid_data, origin="lower", interpolation="nearest",
                                     extent=(left, right, bottom, top), aspect="auto")
    else:
        image = NonUniformImage(ax, interpolation="nearest", origin="lower",
                                extent=(left, right, bottom, top))
        image.set_data(xs, ys, grid_data)
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
