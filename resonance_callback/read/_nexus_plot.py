"""A NeXus entry's default plot (``NXdata``), chosen as BestEffortCallback chooses its plots.

The signal is the first field BestEffortCallback would plot on the primary
stream (:mod:`resonance_callback.read._hints`: the descriptors' hinted fields that
are no dimension), else the first numeric field that is no axis; the other hinted
fields of its shape are ``@auxiliary_signals``. The axes are the first field of
each of the start document's ``hints.dimensions`` on the primary stream (the
start's ``motors`` when those are unusable, ``time`` when none is hinted).

* A scan on a grid (:mod:`resonance_callback.read._grid`: ``grid_scan``,
  ``rel_grid_scan``, ``list_grid_scan``, with one ``shape`` entry per
  dimension) of scalar signals is laid out on the grid: each signal has the
  start's ``shape`` (each event in the cell of its ``seq_num``, snaking lines
  turned back as the start's ``snaking`` or ``snake_axes`` says; NaN where the
  scan ended early), each axis is one value per grid line (the mean of the
  positions read there; from ``extents`` where no event was), ``@axes`` names
  the dimensions slowest first and ``@<axis>_indices`` is each one's dimension.
  NeXpy and nexusformat draw it as a heat map. A grid of more than
  :data:`resonance_callback.read._grid.MAX_CELLS` cells (a start document's
  ``shape`` is not checked by anyone) stays flat.
* Any other scan links the primary stream's fields (stored once): one value
  per event, so every axis is indexed by the event dimension
  (``@<axis>_indices = 0``) and ``@axes`` names the first (``"."`` for a
  frame's own dimensions).
"""

from __future__ import annotations

import h5py
import numpy as np

from resonance_callback.read._grid import Grid, grid_cells, line_positions, scan_grid
from resonance_callback.read._hints import stream_hints
from resonance_callback.read._run import Run

__all__ = ["default_plot", "nx_class", "safe_name"]


def nx_class(group: h5py.Group, name: str) -> h5py.Group:
    """Mark ``group`` with NeXus class ``name``; return it."""
    group.attrs["NX_class"] = name
    return group


def safe_name(name: str) -> str:
    """A field or stream name as an HDF5 link name (no ``/``, not ``.``)."""
    out = str(name).replace("/", "_")
    return "_" + out if out in ("", ".", "..") else out


def default_plot(entry: h5py.Group, run: Run, primary: h5py.Group) -> None:
    """Write ``entry/data`` (module documentation) from the primary stream's group."""
    datasets = {k for k, v in primary.items() if isinstance(v, h5py.Dataset)}
    hints = stream_hints(run.start, "primary", run.descriptors("primary"))
    axes = [safe_name(a) for a in dict.fromkeys(hints.dims) if safe_name(a) in datasets]
    present = [safe_name(f) for f in hints.ys if safe_name(f) in datasets
               and safe_name(f) not in axes]
    if not present:
        keys = [safe_name(k) for d in run.descriptors("primary") for k in d.get("data_keys", {})]
        present = [k for k in dict.fromkeys(keys) if k in datasets and k not in axes
                   and primary[k].dtype.kind in "biuf"]
    if not present or not primary[present[0]].ndim:
        return
    signal = present[0]
    shape = primary[signal].shape
    auxiliary = [f for f in present[1:] if primary[f].shape == shape]
    data = nx_class(entry.create_group("data"), "NXdata")
    grid = scan_grid(run.start)
    if (grid is not None and len(grid.shape) == len(axes) and "seq_num" in datasets
            and len(shape) == 1 and primary[signal].dtype.kind in "biuf"):
        _gridded(data, primary, [signal, *auxiliary], axes, grid)
    else:
        _linked(data, primary, [signal, *auxiliary], axes)
    data.attrs["signal"] = signal
    if auxiliary:
        data.attrs["auxiliary_signals"] = auxiliary
    entry.attrs["default"] = "data"
    data.create_dataset("title", data=f"scan {run.scan_id}: {signal}",
                        dtype=h5py.string_dtype())


def _linked(data: h5py.Group, primary: h5py.Group, signals: list[str], axes: list[str]) -> None:
    n = primary[signals[0]].shape[0]
    for name in dict.fromkeys([*signals, *axes]):
        if primary[name].ndim and primary[name].shape[0] == n:
            data[name] = primary[name]  # a hard link: the values are stored once
            primary[name].attrs["target"] = primary[name].name
    linked = [a for a in axes if a in data and a != signals[0]]
    if linked:
        data.attrs["axes"] = [linked[0], *["."] * (data[signals[0]].ndim - 1)]
        for axis in linked:
            data.attrs[f"{axis}_indices"] = 0


def _gridded(data: h5py.Group, primary: h5py.Group, signals: list[str], axes: list[str],
             grid: Grid) -> None:
    cells, inside = grid_cells(primary["seq_num"][()], grid)
    where = tuple(cells[inside].T)
    for name in signals:
        values = np.full(grid.shape, np.nan)
        values[where] = primary[name][()][inside]
        data.create_dataset(name, data=values)
    for dim, axis in enumerate(axes):
        column = primary[axis]
        readings = (column[()][inside] if column.ndim == 1 and column.dtype.kind in "biuf"
                    else None)
        data.create_dataset(axis, data=line_positions(grid, dim, cells[inside, dim], readings))
        data.attrs[f"{axis}_indices"] = dim
    data.attrs["axes"] = axes
