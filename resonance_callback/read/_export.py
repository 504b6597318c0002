"""Write a stored run out as JSON lines, CSV or TIFF, or plot it to a PNG.

The functions behind ``resonance-callback export`` and ``resonance-callback plot``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from resonance_callback import jsoncodec
from resonance_callback._extras import needs_extra
from resonance_callback.errors import DataLookupError, StorageError
from resonance_callback.read._msgpack_export import exported_documents
from resonance_callback.read._run import Run

if TYPE_CHECKING:  # matplotlib is optional (extra "plot"); imported when plotting
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["export_csv", "export_jsonl", "export_tiff", "plot_run"]


def _directory(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create directory {out}: {exc}") from exc
    return out


def _safe(name: str) -> str:
    """A stream or field name as one file-name component."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


def export_jsonl(run: Run, out: Path | str, *, fill: bool = True) -> int:
    """Write ``run.documents(fill)`` as one ``[name, doc]`` JSON array per line.

    The start document carries the run's stored sample when it names no such
    sample itself (see :func:`export_msgpack`), so a replay restores it.

    Parameters
    ----------
    run : Run
        The run.
    out : Path or str
        The file to write; ``"-"`` for standard output.
    fill : bool, optional
        Passed to :meth:`Run.documents`; frames become nested lists.

    Returns
    -------
    int
        The number of documents written.

    Notes
    -----
    Lines are written by :func:`resonance_callback.jsoncodec.dumps`: non-finite
    floats appear as ``{"$float": "NaN"}``; read them back with
    :func:`resonance_callback.jsoncodec.loads`.
    """
    def write(stream: IO[str]) -> int:
        n = 0
        for name, doc in exported_documents(run, fill=fill):
            stream.write(jsoncodec.dumps([name, doc]))
            stream.write("\n")
            n += 1
        return n

    if str(out) == "-":
        return write(sys.stdout)
    path = Path(out)
    try:
        with path.open("w", encoding="utf-8") as handle:
            return write(handle)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc


def export_csv(run: Run, out: Path | str, *, streams: Iterable[str] = (),
               timestamps: bool = False) -> list[Path]:
    """Write one CSV file per stream, ``{out}/{stream}.csv``, from :meth:`Run.table`.

    Parameters
    ----------
    run : Run
        The run.
    out : Path or str
        The directory (created if missing).
    streams : iterable of str, optional
        The streams to write; all of them if empty.
    timestamps : bool, optional
        Add the ``ts_<field>`` columns.

    Returns
    -------
    list of Path
        The files written.
    """
    directory = _directory(Path(out))
    written = []
    for stream in list(streams) or run.streams:
        path = directory / f"{_safe(stream)}.csv"
        try:
            run.table(stream, timestamps=timestamps).to_csv(path, index=False)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc}") from exc
        written.append(path)
    return written


def _as_image(frame: np.ndarray) -> np.ndarray:
    return frame.reshape(1, -1) if frame.ndim == 1 else frame


def export_tiff(run: Run, out: Path | str, *, streams: Iterable[str] = (),
                fields: Iterable[str] = (), stack: bool = False) -> list[Path]:
    """Write frames as TIFF: one file per frame, or one multi-page file per field.

    Parameters
    ----------
    run : Run
        The run.
    out : Path or str
        The directory (created if missing). Files are named
        ``{stream}_{field}_{NNNNN}.tif``, or ``{stream}_{field}.tif`` with ``stack``.
    streams : iterable of str, optional
        Streams to export; all of them if empty.
    fields : iterable of str, optional
        Fields to export; every field with frames if empty.
    stack : bool, optional
        One multi-page file per field instead of one file per frame.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    KeyError
        If a named field has no frames in any stream exported, or the run has
        no frames at all (:class:`DataLookupError`).
    """
    import tifffile

    directory = _directory(Path(out))
    wanted = list(fields)
    written: list[Path] = []
    found: set[str] = set()
    for stream in list(streams) or run.streams:
        for field in run.image_fields(stream):
            if wanted and field not in wanted:
                continue
            found.add(field)
            frames = run.images(field, stream)
            stem = f"{_safe(stream)}_{_safe(field)}"
            try:
                if stack:
                    path = directory / f"{stem}.tif"
                    with tifffile.TiffWriter(path) as tif:
                        for frame in frames:
                            tif.write(_as_image(frame), contiguous=True)
                    written.append(path)
                    continue
                for i, frame in enumerate(frames):
                    path = directory / f"{stem}_{i:05d}.tif"
                    tifffile.imwrite(path, _as_image(frame))
                    written.append(path)
            except OSError as exc:
                raise StorageError(f"cannot write TIFF in {directory}: {exc}") from exc
    missing = [f for f in wanted if f not in found]
    if missing or not found:
        raise DataLookupError(f"run {run.uid} has no frames for {missing or 'any field'}")
    return written


def _default_x(run: Run, stream: str, columns: list[str]) -> str:
    """The x axis the start document's hints suggest, else ``seq_num``."""
    for dim in (run.start.get("hints") or {}).get("dimensions") or []:
        try:
            fields, dim_stream = dim
        except (TypeError, ValueError):
            continue
        if dim_stream == stream and fields and fields[0] in columns:
            return str(fields[0])
    return "seq_num"


def plot_run(run: Run, ys: list[str], out: Path | str, *, x: str | None = None,
             stream: str = "primary", frame: int | None = None) -> Path:
    """Plot fields of one stream to a PNG: lines for values, an image for frames.

    Parameters
    ----------
    run : Run
        The run.
    ys : list of str
        Fields to plot against ``x``; or one field with frames, drawn as an
        image (frame ``frame``, or the sum of all frames when None; a 1-D
        trace is drawn as a line).
    out : Path or str
        The PNG file.
    x : str, optional
        The x column; default the start document's hinted dimension for this
        stream, else ``seq_num``. ``time`` is plotted in seconds from start.
    stream : str, optional
        The stream.
    frame : int, optional
        Which frame of a frame field to draw.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    KeyError
        If a field is in neither the table nor the frames (:class:`DataLookupError`).
    MissingExtraError
        If matplotlib is not installed (extra ``plot``).
    """
    with needs_extra("plot", "matplotlib", "plotting"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    title = f"scan {run.scan_id} {run.plan_name or ''} ({run.uid[:8]}) - {stream}"
    image_fields = run.image_fields(stream)
    if len(ys) == 1 and ys[0] in image_fields:
        _plot_frames(ax, fig, run, ys[0], stream, frame)
    else:
        _plot_lines(ax, run, ys, x, stream)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(out)
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc
    return path


def _plot_lines(ax: Axes, run: Run, ys: list[str], x: str | None, stream: str) -> None:
    table = run.table(stream)
    columns = list(table.columns)
    unknown = [c for c in [*ys, *([x] if x else [])] if c not in columns]
    if unknown:
        frames = run.image_fields(stream)
        raise DataLookupError(
            f"stream {stream!r} of run {run.uid} has no field {unknown[0]!r}; columns: "
            f"{columns[2:]}" + (f"; fields with frames (plot one alone): {frames}" if frames
                                 else ""))
    x = x or _default_x(run, stream, columns)
    xs = table[x] - run.time_start if x == "time" else table[x]
    for y in ys:
        ax.plot(xs, table[y], marker="o", markersize=3, label=y)
    ax.set_xlabel("time since start [s]" if x == "time" else x)
    ax.set_ylabel(ys[0] if len(ys) == 1 else "value")
    if len(ys) > 1:
        ax.legend()


def _plot_frames(ax: Axes, fig: Figure, run: Run, field: str, stream: str,
                 frame: int | None) -> None:
    frames = run.images(field, stream)
    if frame is not None:
        data, label = np.asarray(frames[frame], dtype=float), f"{field} frame {frame}"
    else:
        data = np.asarray(frames[0], dtype=float)
        for i in range(1, len(frames)):
            data = data + frames[i]
        label = f"{field}, sum of {len(frames)} frames"
    while data.ndim > 2:
        data = data.sum(axis=0)
    if data.ndim == 1:
        ax.plot(np.arange(data.size), data)
        ax.set_xlabel("index")
        ax.set_ylabel(label)
        return
    shown = ax.imshow(data, origin="lower", interpolation="nearest")
    fig.colorbar(shown, ax=ax, label=label)
