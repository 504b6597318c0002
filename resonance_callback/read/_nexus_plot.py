"""A NeXus entry's default plot (``NXdata``), chosen as BestEffortCallback chooses its plots.

The signal is the first field the primary stream's descriptors hint
(``hints[device]["fields"]``) that is no axis, else the first numeric field
that is none; the other hinted fields of its shape are ``@auxiliary_signals``.
The axes are the first field of each of the start document's
``hints.dimensions`` on the primary stream (``time`` when none is hinted).

* A scan on a grid (the start's ``hints.gridding`` is ``"rectilinear"``, as
  ``grid_scan``, ``rel_grid_scan`` and ``list_grid_scan`` set it, with one
  ``shape`` entry per dimension) of scalar signals is laid out on the grid:
  each signal has the start's ``shape`` (events placed by their order, snaking
  rows turned back as the start's ``snaking`` says; NaN where the scan ended
  early), each axis is one value per grid line (the mean of the positions read
  there; from ``extents`` where no event was), ``@axes`` names the dimensions
  slowest first and ``@<axis>_indices`` is each one's dimension. NeXpy and
  nexusformat draw it as a heat map. A grid of more than :data:`MAX_GRID_POINTS`
  points (a start document's ``shape`` is not checked by anyone) stays flat.
* Any other scan links the primary stream's fields (stored once): one value
  per event, so every axis is indexed by the event dimension
  (``@<axis>_indices = 0``) and ``@axes`` names the first (``"."`` for a
  frame's own dimensions).
"""

from __future__ import annotations

import math
from typing import Any

import h5py
import numpy as np

from resonance_callback.read._run import Run

__all__ = ["MAX_GRID_POINTS", "default_plot", "nx_class", "safe_name"]

#: Largest grid laid out (points, 32 MiB of float64 per signal); a larger one stays flat.
MAX_GRID_POINTS = 4_000_000


def nx_class(group: h5py.Group, name: str) -> h5py.Group:
    """Mark ``group`` with NeXus class ``name``; return it."""
    group.attrs["NX_class"] = name
    return group


def safe_name(name: str) -> str:
    """A field or stream name as an HDF5 link name (no ``/``, not ``.``)."""
    out = str(name).replace("/", "_")
    return "_" + out if out in ("", ".", "..") else out


def _hinted(run: Run) -> list[str]:
    fields: list[str] = []
    for descriptor in run.descriptors("primary"):
        for hint in (descriptor.get("hints") or {}).values():
            for field in (hint.get("fields") or []) if isinstance(hint, dict) else []:
                if isinstance(field, str) and field not in fields:
                    fields.append(field)
    return fields


def _dimensions(run: Run) -> list[str]:
    axes = []
    for dimension in (run.start.get("hints") or {}).get("dimensions") or []:
        try:
            fields, stream = dimension
        except (TypeError, ValueError):
            continue
        if stream == "primary" and isinstance(fields, list) and fields:
            axes.append(str(fields[0]))
    return axes or ["time"]


def default_plot(entry: h5py.Group, run: Run, primary: h5py.Group) -> None:
    """Write ``entry/data`` (module documentation) from the primary stream's group."""
    datasets = {k for k, v in primary.items() if isinstance(v, h5py.Dataset)}
    axes = [safe_name(a) for a in dict.fromkeys(_dimensions(run)) if safe_name(a) in datasets]
    present = [safe_name(f) for f in _hinted(run) if safe_name(f) in datasets
               and safe_name(f) not in axes]  # a motor's hinted readback is an axis
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
    grid = _grid(run, len(axes))
    if grid is not None and len(shape) == 1 and primary[signal].dtype.kind in "biuf":
        _gridded(data, primary, [signal, *auxiliary], axes, *grid)
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


def _grid(run: Run, n_axes: int) -> tuple[tuple[int, ...], list[bool], list[Any]] | None:
    """The start's grid (shape, snaking, extents) when the scan is on one, else None."""
    start = run.start
    if (start.get("hints") or {}).get("gridding") != "rectilinear":
        return None
    shape = start.get("shape")
    if (not isinstance(shape, list) or len(shape) < 2 or len(shape) != n_axes
            or not all(type(s) is int and s > 0 for s in shape)
            or math.prod(shape) > MAX_GRID_POINTS):
        return None
    snaking = start.get("snaking")
    snaking = [bool(s) for s in snaking] if isinstance(snaking, list) else []
    extents = start.get("extents")
    extents = extents if isinstance(extents, list) and len(extents) == len(shape) else []
    return tuple(shape), (snaking + [False] * len(shape))[:len(shape)], extents


def grid_indices(n: int, shape: tuple[int, ...], snaking: list[bool]) -> np.ndarray:
    """Each of the first ``n`` events' place on the grid, ``(n, ndim)``, snaking rows turned."""
    count = min(n, int(np.prod(shape)))
    places = np.stack(np.unravel_index(np.arange(count), shape), axis=1)
    for dim in range(1, len(shape)):
        if snaking[dim]:
            outer = np.ravel_multi_index(places[:, :dim].T, shape[:dim])
            turned = outer % 2 == 1
            places[turned, dim] = shape[dim] - 1 - places[turned, dim]
    return places


def _gridded(data: h5py.Group, primary: h5py.Group, signals: list[str], axes: list[str],
             shape: tuple[int, ...], snaking: list[bool], extents: list[Any]) -> None:
    n = primary[signals[0]].shape[0]
    places = grid_indices(n, shape, snaking)
    where = tuple(places.T)
    for name in signals:
        values = np.full(shape, np.nan)
        values[where] = primary[name][: len(places)]
        data.create_dataset(name, data=values)
    for dim, axis in enumerate(axes):
        read = np.asarray(primary[axis][: len(places)], dtype=float)
        sums = np.bincount(places[:, dim], weights=read, minlength=shape[dim])
        counts = np.bincount(places[:, dim], minlength=shape[dim])
        line = np.full(shape[dim], np.nan)
        line[counts > 0] = sums[counts > 0] / counts[counts > 0]
        if (counts == 0).any():
            try:
                low, high = (float(v) for v in extents[dim])
                planned = np.linspace(low, high, shape[dim])
            except (IndexError, TypeError, ValueError):
                planned = np.arange(shape[dim], dtype=float)
            line[counts == 0] = planned[counts == 0]
        data.create_dataset(axis, data=line)
        data.attrs[f"{axis}_indices"] = dim
    data.attrs["axes"] = axes
