"""Write a stored run out as JSON lines, CSV or TIFF.

The functions behind ``resonance-callback export``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import numpy as np

from resonance_callback import jsoncodec
from resonance_callback.errors import DataLookupError, StorageError
from resonance_callback.read._export_files import out_directory
from resonance_callback.read._msgpack_export import exported_documents
from resonance_callback.read._run import Run

__all__ = ["export_csv", "export_jsonl", "export_tiff"]


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
    directory = out_directory(Path(out))
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

    directory = out_directory(Path(out))
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
