"""Plot stored runs as BestEffortCallback would have drawn them live, to a PNG.

The function behind ``resonance-callback plot``. With no field named, the y
fields are the descriptors' hinted ones and x the start's hinted dimension
(:mod:`resonance_callback.read._hints`): one panel per field, one line per
run. A 2-D grid scan is a heat map per field (:mod:`resonance_callback.read._plot_grid`);
a field with frames, given alone (or the only thing hinted), an image
(:mod:`resonance_callback.read._plot_frames`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from resonance_callback._extras import needs_extra
from resonance_callback.errors import DataLookupError, PlotError, RunLookupError, StorageError
from resonance_callback.read._grid import scan_grid
from resonance_callback.read._plot_data import Source, read_source
from resonance_callback.read._plot_frames import draw_frames
from resonance_callback.read._plot_grid import draw_grid, draw_scatter
from resonance_callback.read._run import Run

if TYPE_CHECKING:  # matplotlib is optional (extra "plot"); imported when plotting
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from resonance_callback.read._beamtime import Beamtime

__all__ = ["plot_figure", "plot_run", "resolve_plot_keys"]

#: The most panels one figure gets (one per y field); name fewer with ``ys``.
MAX_PANELS = 16


def _figure(panels: int) -> tuple[Figure, list[Axes]]:
    with needs_extra("plot", "matplotlib", "plotting"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

    rows, cols = (panels, 1) if panels < 5 else (int(np.ceil(np.sqrt(panels))),) * 2
    fig = Figure(figsize=(6.4 * (1 if cols == 1 else 0.6 * cols),
                          max(4.8, (2.6 if cols == 1 else 2.4) * rows)), dpi=100)
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(panels)]
    return fig, axes


def _title(sources: list[Source]) -> str:
    first = sources[0]
    if len(sources) == 1:
        run = first.run
        return f"scan {run.scan_id} {run.plan_name or ''} ({run.uid[:8]}) - {first.stream}"
    return f"scans {', '.join(str(s.run.scan_id) for s in sources)} - {first.stream}"


def _default_fields(sources: list[Source]) -> list[str]:
    """The hinted fields that are numbers, of every run, in order."""
    fields: list[str] = []
    for source in sources:
        fields.extend(f for f in source.hints.ys if f not in fields and source.is_number(f))
    return fields


def _x_field(source: Source, x: str | None) -> str:
    """The x column: ``x``, else the hinted dimension, else ``seq_num``."""
    if x is not None:
        if not source.has(x):
            raise source.missing(x)
        return x
    dims = source.hints.dims
    return dims[0] if len(dims) == 1 and source.has(dims[0]) else "seq_num"


def _grid_dims(source: Source, x: str | None) -> list[str] | None:
    """The two hinted dimensions of a 2-D scan drawn as a map, else None."""
    dims = source.hints.dims
    return dims if x is None and len(dims) == 2 else None


def _draw_lines(axes: list[Axes], sources: list[Source], fields: list[str], x: str | None,
                named: bool) -> None:
    xs_used: list[str] = []
    for ax, field in zip(axes, fields, strict=True):
        for source in sources:
            if not source.has(field):
                if named:
                    raise source.missing(field)
                continue
            x_field = _x_field(source, x)
            if x_field not in xs_used:
                xs_used.append(x_field)
            ax.plot(source.numbers(x_field), source.numbers(field), marker="o", markersize=3,
                    label=source.label if len(sources) > 1 else field)
        ax.set_ylabel(field)
        if len(sources) > 1:
            ax.legend(fontsize=8)
    label = " / ".join("time since start [s]" if f == "time" else f for f in xs_used)
    for ax in axes:
        ax.set_xlabel(label if ax is axes[-1] or len(axes) >= 5 else "")


def _draw_maps(fig: Figure, axes: list[Axes], source: Source, fields: list[str],
               dims: list[str]) -> None:
    positions = [source.numbers(d) if source.has(d) else None for d in dims]
    grid = scan_grid(source.run.start)
    if grid is not None and len(grid.shape) != 2:
        grid = None
    for ax, field in zip(axes, fields, strict=True):
        if not source.has(field):
            raise source.missing(field)
        values = source.numbers(field)
        if grid is not None:
            draw_grid(fig, ax, grid, np.asarray(source.table["seq_num"]), values,
                      (positions[0], positions[1]), (dims[0], dims[1]), field)
        elif positions[0] is not None and positions[1] is not None:
            draw_scatter(fig, ax, positions[0], positions[1], values, (dims[0], dims[1]), field)
        else:
            raise PlotError(f"{source.where()}: the dimensions {dims} are not both columns; "
                            f"give --x to draw lines")


def _frame_field(sources: list[Source], fields: list[str], frame: int | None) -> str | None:
    """The field to draw as frames, if that is what is asked, else None."""
    first = sources[0]
    if len(fields) == 1 and (fields[0] in first.frame_fields or first.is_array(fields[0])):
        field = fields[0]
    elif not fields:
        hinted = [f for f in first.hints.ys if first.is_array(f)]
        if not hinted:
            names = [c for c in first.table.columns if c not in ("seq_num", "time")]
            raise PlotError(f"{first.where()} hints no field to plot; name one of "
                            f"{names + first.frame_fields}")
        field = hinted[0]
    else:
        if frame is not None:
            have = (f"its fields with frames are {first.frame_fields}" if first.frame_fields
                    else "it has none")
            raise PlotError(f"--frame {frame} draws a field with frames, not {fields}; "
                            f"{first.where()}: {have}")
        return None
    if len(sources) > 1:
        raise PlotError(f"{first.where(field)} holds frames, drawn one run at a time; "
                        f"plot run {first.run.uid} alone")
    return field


def plot_figure(runs: Run | Sequence[Run], ys: Sequence[str] | None = None, *,
                x: str | None = None, stream: str = "primary",
                frame: int | None = None) -> Figure:
    """Draw runs as BestEffortCallback would have, on a new matplotlib Figure.

    Parameters are those of :func:`plot_run`; returns the Figure (Agg canvas).
    """
    chosen = [runs] if isinstance(runs, Run) else list(runs)
    if not chosen:
        raise PlotError("no run to plot")
    sources = [read_source(run, stream) for run in chosen]
    named = [str(y) for y in ys or ()]
    fields = named or _default_fields(sources)
    for field in named:  # an unknown field fails before anything is drawn
        if not any(s.has(field) or field in s.frame_fields for s in sources):
            raise sources[0].missing(field)
    frames = _frame_field(sources, fields, frame)
    if frames is not None:
        fig, axes = _figure(1)
        count, read = sources[0].frames(frames)
        draw_frames(fig, axes[0], sources[0].where(frames), frames, count, read, frame)
    else:
        for field in fields:
            for source in sources:
                if field in source.frame_fields:
                    raise PlotError(f"{source.where(field)} holds frames: plot it alone")
                if source.is_array(field):
                    source.numbers(field)  # raises, naming the arrays' shape
        if len(fields) > MAX_PANELS:
            raise PlotError(f"{sources[0].where()}: {len(fields)} fields to draw, at most "
                            f"{MAX_PANELS}; name the ones wanted")
        if all(len(source.table) == 0 for source in sources):
            raise PlotError(f"{sources[0].where()} has no events to plot")
        fig, axes = _figure(len(fields))
        dims = _grid_dims(sources[0], x)
        maps = [s for s in sources if _grid_dims(s, x) is not None]
        if maps and len(sources) > 1:
            raise PlotError(f"run {maps[0].run.uid} (scan {maps[0].run.scan_id}) is a 2-D "
                            f"{maps[0].run.plan_name}, drawn alone as a map; overlay it "
                            f"as lines with --x seq_num")
        if dims is not None:
            _draw_maps(fig, axes, sources[0], fields, dims)
        else:
            _draw_lines(axes, sources, fields, x, bool(named))
    fig.axes[0].set_title(_title(sources), fontsize=10)
    with warnings.catch_warnings():  # "not applied" for crowded panels: drawn as they are
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    return fig


def plot_run(runs: Run | Sequence[Run], ys: Sequence[str] | None = None,
             out: Path | str = "plot.png", *, x: str | None = None, stream: str = "primary",
             frame: int | None = None) -> Path:
    """Plot runs to a PNG as BestEffortCallback draws them: lines, a heat map or an image.

    Parameters
    ----------
    runs : Run or sequence of Run
        One run, or several overlaid (one line per run, a legend naming them).
    ys : sequence of str, optional
        The fields to draw, one panel each; default the descriptors' hinted
        fields that are numbers (else the hinted field with frames). One
        field with frames (or inline arrays) is drawn as an image of frame
        ``frame``, or of the sum of all frames; a 1-D trace as a line.
    out : Path or str, optional
        The PNG file.
    x : str, optional
        The x column; default the start's hinted dimension (``time`` off
        the dimensions' stream; ``time`` is in seconds from the start), else
        ``seq_num``. A 2-D grid scan is a heat map placed by the start's
        ``shape`` and ``extents`` (snaking undone) unless ``x`` is given.
    stream : str, optional
        The stream.
    frame : int, optional
        Which frame of a frame field to draw (negative counts from the end).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    KeyError
        If a field, stream or frame is not in the run (:class:`DataLookupError`).
    ValueError
        If the fields cannot be drawn as asked (:class:`PlotError`).
    MissingExtraError
        If matplotlib is not installed (extra ``plot``).
    """
    fig = plot_figure(runs, ys, x=x, stream=stream, frame=frame)
    path = Path(out)
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc
    return path


def resolve_plot_keys(beamtime: Beamtime, keys: Sequence[str],
                      stream: str = "primary") -> tuple[list[Run], list[str]]:
    """Split ``plot``'s ``RUN [RUN|FIELD...]`` arguments into runs and fields.

    The first key is a run (a uid, a unique prefix, a scan_id or ``-N``). Each
    later key is a field if the first run's ``stream`` has a field of that name,
    else another run.

    Raises
    ------
    KeyError
        If a key is neither (:class:`DataLookupError`), or the first is no run
        (:class:`RunLookupError`).
    """
    if not keys:
        raise PlotError("name a run to plot")
    first = beamtime[keys[0]]
    known = {"seq_num", "time"}
    for descriptor in first.descriptors(stream):
        known.update(descriptor.get("data_keys") or {})
    runs, fields = [first], []
    for key in keys[1:]:
        if key in known:
            fields.append(key)
            continue
        try:
            runs.append(beamtime[key])
        except RunLookupError as exc:
            raise DataLookupError(
                f"stream {stream!r} of run {first.uid} has no field {key!r}, nor is it a run "
                f"({exc}); its fields: {sorted(known - {'seq_num', 'time'})}") from None
    return runs, fields
