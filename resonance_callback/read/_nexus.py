"""Write runs as NeXus/HDF5: one ``NXentry`` per run, its default plot from the hints.

The layout of one run's entry::

    /<entry>                      NXentry   @default="data"
        title, entry_identifier (the uid), start_time, end_time, program_name
        sample/                   NXsample  name, chemical_formula, description, metadata
        documents/                NXcollection  start, stop (JSON text), exit_status,
            descriptors/<stream>  the stream's descriptor documents (JSON text)
        streams/<stream>/         NXcollection, the stream's fields only:
            seq_num, time, <field>...   one value per event (text as UTF-8 strings;
                                        values of no single type as JSON text)
            <frame field>         (n_events, *frame_shape), chunked one frame per
                                  chunk, gzip-compressed, written a block of frames at a time
        timestamps/<stream>/      NXcollection  ts_<field>
        configuration/<stream>/   NXcollection  <device>/<field>: configuration values
        data/                     NXdata  the default plot

``data`` is the default plot BestEffortCallback would draw: signal from the
descriptors' hints, axes from the start's ``hints.dimensions``, a grid scan
laid out on its grid (:mod:`resonance_callback.read._nexus_plot`).

A file holding one run names its entry ``entry``; one holding several names
each after its run (``scan00012_1a2b3c4d``), the root's ``@default`` the first.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from resonance_callback import jsoncodec
from resonance_callback.errors import StorageError
from resonance_callback.read._export_files import created, run_stem, runs_named
from resonance_callback.read._frames import FrameArray
from resonance_callback.read._nexus_plot import default_plot, nx_class, safe_name
from resonance_callback.read._run import Run
from resonance_callback.read._stream import Stream

__all__ = ["entry_name", "export_nexus"]

#: Bytes of frames read from the store and written at a time.
BLOCK_BYTES = 32 << 20
_TEXT = h5py.string_dtype()


def entry_name(run: Run) -> str:
    """The name of a run's entry in a file of several runs: ``scan00012_1a2b3c4d``."""
    return run_stem(run).replace("-", "_")


def export_nexus(runs: Run | Sequence[Run], out: Path | str) -> Path:
    """Write runs to one NeXus/HDF5 file, an ``NXentry`` each (module documentation).

    Parameters
    ----------
    runs : Run or sequence of Run
        One run (its entry is ``/entry``) or several (``/scan00012_1a2b3c4d``...).
    out : Path or str
        The file; it must not exist.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    OSError
        If the file exists or cannot be written (:class:`StorageError`; a
        partly written file is removed).
    """
    chosen = [runs] if isinstance(runs, Run) else list(runs)
    path = Path(out)
    names = ["entry"] if len(chosen) == 1 else [entry_name(run) for run in chosen]
    what = runs_named([run.uid for run in chosen])
    with created(path, what) as handle:
        handle.close()  # made exclusively here; h5py writes it afresh
        try:
            with h5py.File(path, "w") as root:
                root.attrs.update({"NX_class": "NXroot", "default": names[0],
                                   "file_name": path.name, "file_time": _iso(None),
                                   "creator": f"resonance-callback {_version()}",
                                   "HDF5_Version": h5py.version.hdf5_version,
                                   "h5py_version": h5py.version.version})
                for run, name in zip(chosen, names, strict=True):
                    _entry(root.create_group(name), run)
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            if isinstance(exc, StorageError):
                raise
            raise StorageError(f"cannot write {path} ({what}): {_reason(exc)}") from exc
    return path


def _reason(exc: BaseException) -> str:
    """HDF5's error in one line: its ``error message = '...'`` when it gives one."""
    found = re.search(r"error message = '([^']*)'", str(exc))
    return found[1] if found else " ".join(str(exc).split())[:300]


def _version() -> str:
    try:
        return importlib.metadata.version("resonance-callback")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a bare checkout
        return "unknown"


def _iso(time: float | None) -> str:
    when = _dt.datetime.now(_dt.UTC) if time is None else _dt.datetime.fromtimestamp(
        float(time), _dt.UTC)
    return when.isoformat()


def _text(group: h5py.Group, name: str, value: str) -> None:
    group.create_dataset(name, data=value, dtype=_TEXT)


def _entry(entry: h5py.Group, run: Run) -> None:
    nx_class(entry, "NXentry")
    _text(entry, "title", f"scan {run.scan_id} {run.plan_name or ''}".strip())
    _text(entry, "entry_identifier", run.uid)
    _text(entry, "start_time", _iso(run.time_start))
    stop = run.stop
    if stop is not None and isinstance(stop.get("time"), int | float):
        _text(entry, "end_time", _iso(stop["time"]))
    _text(entry, "program_name", "bluesky")
    sample = run.sample
    if sample is not None:
        group = nx_class(entry.create_group("sample"), "NXsample")
        _text(group, "name", sample.name)
        if sample.formula is not None:
            _text(group, "chemical_formula", str(sample.formula))
        if sample.description is not None:
            _text(group, "description", str(sample.description))
        _text(group, "metadata", jsoncodec.dumps(sample.extra))
    documents = nx_class(entry.create_group("documents"), "NXcollection")
    _text(documents, "start", jsoncodec.dumps(run.start))
    if stop is not None:
        _text(documents, "stop", jsoncodec.dumps(stop))
    _text(documents, "exit_status", run.exit_status or "open")
    nx_class(documents.create_group("descriptors"), "NXcollection")
    for group in ("streams", "timestamps", "configuration"):
        nx_class(entry.create_group(group), "NXcollection")
    for name in run.streams:
        _stream(entry, safe_name(name), run, run[name])
    if "primary" in run.streams:
        default_plot(entry, run, entry["streams"][safe_name("primary")])


def _stream(entry: h5py.Group, name: str, run: Run, stream: Stream) -> None:
    """The stream's fields in ``streams/<name>``, the rest in groups of their own."""
    descriptors = run.descriptors(stream.name)
    _text(entry["documents/descriptors"], name, jsoncodec.dumps(descriptors))
    _configuration(nx_class(entry["configuration"].create_group(name), "NXcollection"),
                   descriptors)
    group = nx_class(entry["streams"].create_group(name), "NXcollection")
    stamps = nx_class(entry["timestamps"].create_group(name), "NXcollection")
    table = stream.internal_table()
    for column in table.columns:
        into = stamps if column.startswith("ts_") else group
        _values(into, safe_name(column), table[column].to_numpy())
    for field in stream.dims():
        if field in stream.frame_fields:
            _frames(group, safe_name(field), stream.frames(field))
        else:
            _values(group, safe_name(field), np.asarray(stream.array(field)))


def _configuration(group: h5py.Group, descriptors: list[dict[str, Any]]) -> None:
    first = descriptors[0].get("configuration") if descriptors else None
    for device, reading in (first or {}).items():
        data = reading.get("data") if isinstance(reading, dict) else None
        if not isinstance(data, dict):
            continue
        into = nx_class(group.create_group(safe_name(device)), "NXcollection")
        for field, value in data.items():
            _values(into, safe_name(field), value)


def _values(group: h5py.Group, name: str, values: Any) -> None:
    """Write values as a dataset: numbers and text as they are, anything else as JSON."""
    try:
        array = np.asarray(values) if not isinstance(values, np.ndarray) else values
    except ValueError:  # ragged lists
        array = np.asarray(None, dtype=object)
    if array.dtype.kind in "biufc":
        group.create_dataset(name, data=array)
    elif array.dtype.kind in "US" or (array.dtype.kind == "O" and array.size and all(
            isinstance(v, str) for v in array.flat)):
        group.create_dataset(name, data=array.astype(object), dtype=_TEXT)
    else:
        texts = [jsoncodec.dumps(v) for v in (array.tolist() if array.ndim else [values])]
        group.create_dataset(name, data=np.array(texts if array.ndim else texts[0],
                                                 dtype=object), dtype=_TEXT)
        group[name].attrs["encoding"] = "json"


def _frames(group: h5py.Group, name: str, frames: FrameArray) -> None:
    """Write a frame field a block of frames at a time; frames never stored stay zero."""
    shape, n = frames.frame_shape, len(frames)
    if shape is None:  # frames of different shapes: one dataset per frame
        each = nx_class(group.create_group(name), "NXcollection")
        for i in range(n):
            each.create_dataset(f"{i:06d}", data=frames[i], compression="gzip")
        return
    chunked = all(shape) and n > 0
    dataset = group.create_dataset(
        name, shape=(n, *shape), dtype=frames.dtype, fillvalue=0,
        **({"chunks": (1, *shape), "compression": "gzip", "compression_opts": 4,
            "shuffle": True} if chunked else {}))
    if not chunked:
        return
    step = max(1, BLOCK_BYTES // max(1, int(np.prod(shape)) * frames.dtype.itemsize))
    missing: list[int] = []
    for begin in range(0, n, step):
        end = min(n, begin + step)
        try:
            dataset[begin:end] = frames[begin:end]
        except StorageError:
            for i in range(begin, end):
                try:
                    dataset[i] = frames[i]
                except StorageError:
                    missing.append(i)
    if missing:
        dataset.attrs["missing_frames"] = np.asarray(missing, dtype="int64")
