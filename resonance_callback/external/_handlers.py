"""ophyd (v1) handlers ``NPY_SEQ``, ``AD_HDF5``, ``AD_TIFF``, in event-model's handler protocol."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from resonance_callback.errors import ExternalDataError, UnsafePathError
from resonance_callback.external._common import (
    _AD_HDF5_DATASET,
    HandlerClass,
    _as_count,
    _as_index,
    _frame_range,
    _is_within,
    _NotReadyError,
    _refuse_traversal,
)
from resonance_callback.external._guard import _ANYWHERE, _FileGuard
from resonance_callback.external._hdf5 import dataset_in, open_hdf5, read_rows
from resonance_callback.external._sources import _load_tiff

# Each built-in handler checks every file with its ``guard`` just before opening
# it: the resolver sets the guard of the handler's resource (roots, byte bound);
# a handler built by hand keeps ``_ANYWHERE`` (regular files, default bound).

# --------------------------------------------------------------------------- handlers


class NpySeqHandler:
    """Read the ``.npy`` sequence that :class:`ophyd.sim.SynSignalWithRegistry` writes.

    ophyd.sim saves frame ``index`` of a resource at
    ``{root}/{resource_path}_{index}.npy`` (resource_kwargs empty, datum_kwargs
    ``{"index": n}``).

    Parameters
    ----------
    path : str
        The resolved ``root/resource_path`` stem.
    """

    specs = frozenset({"NPY_SEQ"})
    guard: _FileGuard = _ANYWHERE

    def __init__(self, path: str) -> None:
        self._stem = path

    def __call__(self, index: int) -> np.ndarray:
        """Return the array saved for ``index``, dtype as stored.

        Parameters
        ----------
        index : int
            The datum's ``index``.

        Returns
        -------
        numpy.ndarray
            The saved array.
        """
        index = _as_index(index, "index", f"NPY_SEQ {self._stem}")
        path = f"{self._stem}_{index}.npy"
        self.guard.check(path, "NPY_SEQ")
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as exc:  # cut short, or not fully written yet
            raise _NotReadyError(f"NPY_SEQ {path}: {exc}") from exc


class AreaDetectorHDF5Handler:
    """Read frames written by the area-detector HDF5 plugin (spec ``AD_HDF5``).

    Frames are in the dataset ``/entry/data/data``, one row per frame; point
    ``n`` holds rows ``[n * frame_per_point, (n + 1) * frame_per_point)``.

    When ``frame_per_point == 1`` the frame axis is dropped and a single frame
    (e.g. ``(H, W)``) is returned, which is what ophyd v1 area detectors
    declare per event. Only that axis is dropped (never ``squeeze()``), so a
    1-pixel-high frame keeps its shape. With more frames per point the result
    is ``(frame_per_point, *frame_shape)``.

    Parameters
    ----------
    path : str
        The resolved path of the HDF5 file.
    frame_per_point : int, optional
        Frames per datum (resource_kwargs), default 1.
    """

    specs = frozenset({"AD_HDF5"})
    guard: _FileGuard = _ANYWHERE

    def __init__(self, path: str, frame_per_point: int = 1) -> None:
        self._path = path
        self._fpp = _as_count(frame_per_point, "frame_per_point", f"AD_HDF5 {path}")

    def __call__(self, point_number: int) -> np.ndarray:
        """Return the frames of ``point_number``, dtype as stored.

        Parameters
        ----------
        point_number : int
            The datum's ``point_number``.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` when ``frame_per_point == 1``, else ``(fpp, H, W)``.
        """
        where = f"AD_HDF5 {self._path}"
        start, stop = _frame_range(_as_index(point_number, "point_number", where), self._fpp)
        with open_hdf5(self._path, self.guard, where) as file:
            dataset = dataset_in(file, _AD_HDF5_DATASET, where)
            if dataset.shape[0] < stop:
                raise _NotReadyError(
                    f"{where}: {_AD_HDF5_DATASET} holds {dataset.shape[0]} frames, "
                    f"point {point_number} needs {stop}"
                )
            return read_rows(dataset, start, None if self._fpp == 1 else stop, self.guard, where)


class AreaDetectorTiffHandler:
    """Read frames written by the area-detector TIFF plugin (spec ``AD_TIFF``).

    Frame ``j`` is the file ``template % (directory + "/", filename, j)`` (the
    plugin's ``FileTemplate``, e.g. ``"%s%s_%6.6d.tiff"``); point ``n`` holds
    frames ``[n * frame_per_point, (n + 1) * frame_per_point)``. The result
    has the same shape convention as :class:`AreaDetectorHDF5Handler`. A
    template that would leave the resource directory is refused.

    Parameters
    ----------
    path : str
        The resolved directory the files are in.
    template : str
        The printf-style file template.
    filename : str
        The file base name.
    frame_per_point : int, optional
        Frames per datum, default 1.
    """

    specs = frozenset({"AD_TIFF"})
    guard: _FileGuard = _ANYWHERE

    def __init__(self, path: str, template: str, filename: str, frame_per_point: int = 1) -> None:
        self._directory = os.path.normpath(path)
        self._template = template
        self._filename = filename
        self._fpp = _as_count(frame_per_point, "frame_per_point", f"AD_TIFF {path}")

    def _file(self, frame: int) -> str:
        where = f"AD_TIFF {self._directory}"
        try:
            name = self._template % (self._directory + os.sep, self._filename, frame)
        except (TypeError, ValueError) as exc:
            raise ExternalDataError(f"{where}: bad template {self._template!r}: {exc}") from exc
        _refuse_traversal(name, where)
        if not _is_within(Path(os.path.normpath(name)), Path(self._directory)):
            raise UnsafePathError(f"{where}: template gives {name!r}, outside the directory")
        self.guard.check(name, where)
        return name

    def __call__(self, point_number: int) -> np.ndarray:
        """Return the frames of ``point_number``, dtype as stored.

        Parameters
        ----------
        point_number : int
            The datum's ``point_number``.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` when ``frame_per_point == 1``, else ``(fpp, H, W)``.
        """
        where = f"AD_TIFF {self._directory}"
        start, stop = _frame_range(_as_index(point_number, "point_number", where), self._fpp)
        frames = [_load_tiff(self._file(j), self.guard) for j in range(start, stop)]
        return frames[0] if self._fpp == 1 else np.stack(frames)


DEFAULT_HANDLERS: Mapping[str, HandlerClass] = MappingProxyType(
    {
        "NPY_SEQ": NpySeqHandler,
        "AD_HDF5": AreaDetectorHDF5Handler,
        "AD_TIFF": AreaDetectorTiffHandler,
    }
)
"""The built-in handler registry, spec -> handler class."""


