"""Our ophyd (v1) handlers: ``NPY_SEQ``, the HDF5 family, ``AD_TIFF``, ``AD_JPEG``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from resonance_callback.errors import ExternalDataError
from resonance_callback.external._common import (
    _AD_HDF5_DATASET,
    HandlerClass,
    _as_count,
    _as_index,
    _frame_range,
    _NotReadyError,
)
from resonance_callback.external._guard import _ANYWHERE, _FileGuard
from resonance_callback.external._hdf5 import dataset_in, open_hdf5, read_rows
from resonance_callback.external._sources import _load_jpeg, _load_tiff
from resonance_callback.external._templates import sequence_file

# Each built-in handler checks every file with its ``guard`` just before opening
# it: the resolver sets the guard of the handler's resource (roots, byte bound);
# a handler built by hand keeps ``_ANYWHERE`` (regular files, default bound).

# --------------------------------------------------------------------------- handlers


class NpySeqHandler:
    """Read the ``.npy`` sequence that :class:`ophyd.sim.SynSignalWithRegistry` writes.

    ophyd.sim saves frame ``index`` of a resource at
    ``{root}/{resource_path}_{index}.npy`` (resource_kwargs empty, datum_kwargs
    ``{"index": n}``). A TiledWriter-style ``template`` (``"_{:d}.npy"``) names
    the files instead when the resource gives one.

    Parameters
    ----------
    path : str
        The resolved ``root/resource_path`` stem.
    template : str, optional
        A new-style template appended to the stem (see :func:`sequence_file`).
    """

    specs = frozenset({"NPY_SEQ"})
    guard: _FileGuard = _ANYWHERE

    def __init__(self, path: str, template: str | None = None) -> None:
        self._stem = path
        self._template = template if template and "{" in template else "_{:d}.npy"

    def __call__(self, index: int | None = None, point_number: int | None = None,
                 frame: int | None = None) -> np.ndarray:
        """Return the array saved for the datum's ``index``, dtype as stored.

        Parameters
        ----------
        index, point_number, frame : int
            The datum's index (whichever of the three it gives).

        Returns
        -------
        numpy.ndarray
            The saved array.
        """
        where = f"NPY_SEQ {self._stem}"
        number = datum_index(where, index=index, point_number=point_number, frame=frame)
        path = sequence_file(self._stem, self._template, "", number, where)
        self.guard.check(path, "NPY_SEQ")
        try:
            nbytes = os.stat(path).st_size
            self.guard.check_bytes(nbytes, f"NPY_SEQ {path}")
            array: np.ndarray = np.load(path, allow_pickle=False)
        except ValueError as exc:  # cut short, or not fully written yet
            raise _NotReadyError(f"NPY_SEQ {path}: {exc}") from exc
        self.guard.count(nbytes)
        return array


class AreaDetectorHDF5Handler:
    """Read frames of one HDF5 dataset: the area-detector HDF5 plugin and its kin.

    Frames are the rows of the dataset (``/entry/data/data`` unless the
    resource's or the datum's ``dataset`` names another); the datum's
    ``point_number`` (or ``index``, or ``frame``) ``n`` holds rows
    ``[n * frame_per_point, (n + 1) * frame_per_point)``. The file is opened
    SWMR-read for each read and closed again.

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
        Frames per datum (resource_kwargs), default 1; ``multiplier`` (what
        TiledWriter renames it to) is read the same way.
    dataset : str, optional
        The dataset (TiledWriter's parameter), default ``/entry/data/data``.
    template, filename : str, optional
        A multipart sequence (one file per frame, named as
        :class:`AreaDetectorTiffHandler` names them): point ``n`` is the rows
        of files ``[n * frame_per_point, (n + 1) * frame_per_point)``, joined.
    """

    specs = frozenset({"AD_HDF5", "AD_HDF5_SWMR", "AD_HDF5_SWMR_STREAM", "AD_HDF5_SWMR_SLICE",
                       "HDF5", "hdf5", "PIL100k_HDF5"})
    guard: _FileGuard = _ANYWHERE

    def __init__(self, path: str, frame_per_point: int | None = None,
                 dataset: str | None = None, multiplier: int | None = None,
                 template: str | None = None, filename: str = "") -> None:
        self._path = path
        per_point = frame_per_point if frame_per_point is not None else multiplier
        self._fpp = _as_count(1 if per_point is None else per_point, "frame_per_point",
                              f"HDF5 {path}")
        self._dataset = str(dataset) if dataset else _AD_HDF5_DATASET
        self._template, self._filename = template, filename

    def _parts(self, name: str, number: int, where: str) -> np.ndarray:
        """A multipart point (``template``): files ``[n * fpp, (n + 1) * fpp)``, rows joined."""
        start, stop = _frame_range(number, self._fpp)
        parts, already = [], 0
        for j in range(start, stop):
            part = sequence_file(os.path.normpath(self._path), str(self._template),
                                 self._filename, j, where)
            with open_hdf5(part, self.guard, where) as file:
                rows = dataset_in(file, name, where)
                nbytes = rows.size * rows.dtype.itemsize
                self.guard.check_bytes(nbytes, f"{where} ({part})", already)
                parts.append(np.asarray(rows[()]))
                self.guard.count(nbytes)
                already += nbytes
        return np.concatenate([p if p.ndim else p[np.newaxis] for p in parts])

    def __call__(self, point_number: int | None = None, index: int | None = None,
                 frame: int | None = None, dataset: str | None = None) -> np.ndarray:
        """Return the frames of the datum's point, dtype as stored.

        Parameters
        ----------
        point_number, index, frame : int
            The datum's index (whichever of the three it gives).
        dataset : str, optional
            The dataset this datum's frames are in, over the resource's.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` when ``frame_per_point == 1``, else ``(fpp, H, W)``.
        """
        name = str(dataset) if dataset else self._dataset
        where = f"HDF5 {self._path} dataset {name}"
        number = datum_index(where, index=index, point_number=point_number, frame=frame)
        if self._template:
            return self._parts(name, number, where)
        start, stop = _frame_range(number, self._fpp)
        with open_hdf5(self._path, self.guard, where) as file:
            rows = dataset_in(file, name, where)
            if rows.ndim == 0:
                raise ExternalDataError(f"{where} is a scalar, not a sequence of frames")
            if rows.shape[0] < stop:
                raise _NotReadyError(
                    f"{where} holds {rows.shape[0]} frames, point {number} needs {stop}"
                )
            return read_rows(rows, start, None if self._fpp == 1 else stop, self.guard, where)


class AreaDetectorTiffHandler:
    """Read frames of an image-file sequence: the area-detector TIFF (and JPEG) plugins.

    File ``j`` is named by ``template``: printf-style (the plugin's
    ``FileTemplate``, ``"%s%s_%6.6d.tiff"``) formatted with the directory,
    ``filename`` and ``j``; or new-style (TiledWriter's and ophyd-async's,
    ``"_{:d}.tif"``) formatted with ``j`` and appended to the resource path
    (:func:`sequence_file`). The datum's ``point_number`` (or ``index``, or
    ``frame``) ``n`` holds files ``[n * frame_per_point, (n + 1) *
    frame_per_point)``. One file is returned as it holds its image (a
    multi-page file as a stack); several are stacked. A name that would leave
    the resource's directory is refused.

    Parameters
    ----------
    path : str
        The resolved directory the files are in, or the stem they extend.
    template : str
        The file template.
    filename : str, optional
        The file base name of a printf-style template.
    frame_per_point : int, optional
        Files per datum, default 1 (``multiplier`` is read the same way).
    """

    specs = frozenset({"AD_TIFF"})
    guard: _FileGuard = _ANYWHERE
    _kind = "TIFF"

    def __init__(self, path: str, template: str, filename: str = "",
                 frame_per_point: int | None = None, multiplier: int | None = None) -> None:
        self._directory = os.path.normpath(path)
        self._template = template
        self._filename = filename
        per_point = frame_per_point if frame_per_point is not None else multiplier
        self._fpp = _as_count(1 if per_point is None else per_point, "frame_per_point",
                              f"AD_{self._kind} {path}")

    def _load(self, path: str, already: int) -> np.ndarray:
        return _load_tiff(path, self.guard, already)

    def _file(self, frame: int) -> str:
        where = f"AD_{self._kind} {self._directory}"
        name = sequence_file(self._directory, self._template, self._filename, frame, where)
        self.guard.check(name, where)
        return name

    def __call__(self, point_number: int | None = None, index: int | None = None,
                 frame: int | None = None) -> np.ndarray:
        """Return the frames of the datum's point, dtype as stored.

        Parameters
        ----------
        point_number, index, frame : int
            The datum's index (whichever of the three it gives).

        Returns
        -------
        numpy.ndarray
            The file's image when ``frame_per_point == 1``, else the files' stacked.
        """
        where = f"AD_{self._kind} {self._directory}"
        number = datum_index(where, index=index, point_number=point_number, frame=frame)
        start, stop = _frame_range(number, self._fpp)
        frames, already = [], 0
        for j in range(start, stop):  # one read: all the point's files within the bound
            frames.append(self._load(self._file(j), already))
            already += frames[-1].nbytes
        return frames[0] if self._fpp == 1 else np.stack(frames)


class AreaDetectorJpegHandler(AreaDetectorTiffHandler):
    """Read the JPEG sequence of the area-detector JPEG plugin (spec ``AD_JPEG``).

    As :class:`AreaDetectorTiffHandler`, for JPEG files (needs the ``jpeg`` extra).
    """

    specs = frozenset({"AD_JPEG"})
    _kind = "JPEG"

    def _load(self, path: str, already: int) -> np.ndarray:
        return _load_jpeg(Path(path), self.guard, already)


def datum_index(where: str, **given: int | None) -> int:
    """The one index a datum gives, as ``point_number``, ``index`` or ``frame``.

    Raises
    ------
    ExternalDataError
        None of them is given, they disagree, or the index is not a
        non-negative integer within :data:`MAX_FRAME_INDEX`.
    """
    values = {name: value for name, value in given.items() if value is not None}
    if not values:
        raise ExternalDataError(f"{where}: the datum gives no point_number, index or frame")
    checked = {_as_index(value, name, where) for name, value in values.items()}
    if len(checked) > 1:
        raise ExternalDataError(f"{where}: the datum's {values} name different frames")
    return checked.pop()


DEFAULT_HANDLERS: Mapping[str, HandlerClass] = MappingProxyType(
    {
        "NPY_SEQ": NpySeqHandler,
        "AD_HDF5": AreaDetectorHDF5Handler,
        **dict.fromkeys(AreaDetectorHDF5Handler.specs, AreaDetectorHDF5Handler),
        "AD_TIFF": AreaDetectorTiffHandler,
        "AD_JPEG": AreaDetectorJpegHandler,
    }
)
"""The built-in handler registry, spec -> handler class."""


