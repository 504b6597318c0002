"""One field's frames drawn as an image viewer shows them, or a 1-D trace as a line.

The frames are those stored in the Zarr store, or the arrays kept inline in the
events (a short 1-D array field). One frame (``frame``, negative counts from
the end) or the sum of all of them, read one at a time, is drawn: a 2-D frame
with pixel axes, the origin at the upper left and a colour bar; a 1-D trace as a
line against its index. Frames with more than two dimensions are summed over
their leading ones (an ophyd-async detector's ``[1, y, x]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from resonance_callback.errors import DataLookupError, PlotError

if TYPE_CHECKING:  # matplotlib is optional (extra "plot"); imported when plotting
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["draw_frames"]


def _pick(what: str, n: int, read: Callable[[int], np.ndarray],
          frame: int | None) -> tuple[np.ndarray, str]:
    """The frame asked for, or the sum of all ``n``, as float, and its label."""
    if n == 0:
        raise PlotError(f"{what} has no frames to draw")
    if frame is not None:
        if not -n <= frame < n:
            raise DataLookupError(
                f"{what} has {n} frames (0..{n - 1}, or -1..-{n}); no frame {frame}")
        return np.asarray(read(frame), dtype=float), f"frame {frame % n}"
    total = np.asarray(read(0), dtype=float)
    for i in range(1, n):
        data = np.asarray(read(i), dtype=float)
        if data.shape != total.shape:
            raise PlotError(f"{what}: frame {i} has shape {list(data.shape)}, frame 0 "
                            f"{list(total.shape)}; draw one with --frame")
        total += data
    return total, f"sum of {n} frames"


def draw_frames(fig: Figure, ax: Axes, what: str, field: str, n: int,
                read: Callable[[int], np.ndarray], frame: int | None) -> None:
    """Draw frame ``frame`` of ``n`` (read by ``read(i)``), or their sum, on ``ax``.

    ``what`` names the run, stream and field in error messages.
    """
    data, label = _pick(what, n, read, frame)
    label = f"{field}, {label}"
    while data.ndim > 2:
        data = data.sum(axis=0)
    if data.ndim == 0 or data.size == 0:
        raise PlotError(f"{what} holds {'empty' if data.size == 0 else 'scalar'} frames: "
                        f"plot it as a line, without --frame")
    if data.ndim == 1:
        ax.plot(np.arange(data.size), data, marker="o" if data.size <= 50 else None,
                markersize=3)
        ax.set_xlabel("index")
        ax.set_ylabel(label)
        return
    shown = ax.imshow(data, origin="upper", interpolation="nearest")
    ax.set_xlabel("x [pixel]")
    ax.set_ylabel("y [pixel]")
    fig.colorbar(shown, ax=ax, label=label)
