"""The frames of an HDF5 stream resource: its dataset's rows, with ``slice`` and ``squeeze``.

Tiled's HDF5 adapter serves ``dataset[slice]``, squeezed when ``squeeze`` is
true, and TiledWriter's structure takes the events from the start of that
array. :class:`_HDF5Source` gives the same rows without reading the whole
dataset when it can: when the slice keeps the first axis as a range (``":"``,
``"2:"``, ``"::2"``, or no slice) and that axis is not squeezed away, only the
rows asked for are read; otherwise (an index on the first axis, or a first axis
of length 1 squeezed away) the sliced dataset is read at once, within the
read bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from resonance_callback.errors import ExternalDataError
from resonance_callback.external._common import _NotReadyError
from resonance_callback.external._guard import _FileGuard
from resonance_callback.external._hdf5 import dataset_in, open_hdf5, read_rows
from resonance_callback.external._shapes import parse_slice, squeeze_of, swmr_of


def _virtual(shape: tuple[int, ...]) -> np.ndarray:
    """A zero-byte array of ``shape``: indexing it gives the shape an index selects."""
    return np.lib.stride_tricks.as_strided(np.zeros(1, dtype=np.uint8), shape=shape,
                                           strides=(0,) * len(shape), writeable=False)


class _HDF5Source:
    """Frames are the rows of one HDF5 dataset (sliced and squeezed), opened for one read."""

    def __init__(self, path: Path, parameters: Mapping[str, Any], guard: _FileGuard) -> None:
        self._name = str(parameters["dataset"])
        self._where = f"{path} dataset {self._name}"
        self._guard = guard
        raw = parameters.get("slice")
        self._slice = parse_slice(raw, self._where) if raw not in (None, False, "") else None
        self._squeeze = squeeze_of(parameters, self._where)
        self._file = open_hdf5(path, guard, self._where, swmr=swmr_of(parameters, self._where),
                               locking=parameters.get("locking"))
        try:
            self._dataset = dataset_in(self._file, self._name, self._where)
            if self._dataset.ndim == 0 and self._slice is None:
                raise ExternalDataError(f"{self._where} is a scalar, not a sequence of frames")
            self._plan()
        except BaseException:
            self._file.close()
            raise

    def _plan(self) -> None:
        """Work out the sliced, squeezed shape and whether rows can be read one range at a time."""
        shape = tuple(int(size) for size in self._dataset.shape)
        index = self._slice or ()
        try:
            selected = _virtual(shape)[index].shape
        except (IndexError, TypeError, ValueError) as exc:
            raise _NotReadyError(f"{self._where}: slice {index} does not apply to the "
                                 f"dataset's shape {list(shape)} (yet): {exc}") from exc
        self._selected = selected
        self._drop = tuple(axis for axis, size in enumerate(selected) if size == 1) \
            if self._squeeze else ()
        if index and index[0] is Ellipsis and len(index) - 1 >= len(shape):
            index = index[1:]  # "..." standing for no axis
        leading = bool(index) and index[0] is not Ellipsis
        first = index[0] if leading else slice(None)
        self._rest = tuple(index[1:]) if leading else tuple(index)
        self._rows: range | None = None
        self._whole: np.ndarray | None = None
        if shape and isinstance(first, slice) and 0 not in self._drop:
            self._rows = range(*first.indices(shape[0]))

    def _read_whole(self) -> np.ndarray:
        if self._whole is None:
            itemsize = self._dataset.dtype.itemsize
            nbytes = math.prod(self._selected) * itemsize
            self._guard.check_bytes(nbytes, f"{self._where} ({Path(self._file.filename).name})")
            array = np.asarray(self._dataset[self._slice or ()])
            self._guard.count(nbytes)
            if self._drop:
                array = np.squeeze(array, axis=self._drop)
            self._whole = array if array.ndim else array[np.newaxis]
        return self._whole

    def frame_info(self, hint: int) -> tuple[tuple[int, ...], np.dtype]:
        if self._rows is None:
            return tuple(self._read_whole().shape[1:]), self._dataset.dtype
        row = tuple(size for axis, size in enumerate(self._selected) if axis not in self._drop)
        return row[1:], self._dataset.dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        if self._rows is None:
            whole = self._read_whole()
            if whole.shape[0] < stop:
                raise _NotReadyError(f"{self._where} holds {whole.shape[0]} frames (sliced), "
                                     f"{stop} needed")
            return whole[start:stop]
        if len(self._rows) < stop:
            raise _NotReadyError(
                f"{self._where} holds {len(self._rows)} frames, {stop} needed")
        if self._slice is None:
            return read_rows(self._dataset, start, stop, self._guard, self._where)
        rows = self._rows[start:stop]
        index = (slice(rows.start, rows.stop if rows else rows.start, rows.step), *self._rest)
        out_shape = _virtual(tuple(self._dataset.shape))[index].shape
        nbytes = math.prod(out_shape) * self._dataset.dtype.itemsize
        self._guard.check_bytes(nbytes, f"{self._where} ({Path(self._file.filename).name})")
        array = np.asarray(self._dataset[index])
        self._guard.count(nbytes)
        return np.squeeze(array, axis=self._drop) if self._drop else array

    def read_all(self, already: int = 0) -> np.ndarray:
        """All the frames (one file of a multipart sequence), ``already`` read before it."""
        nbytes = math.prod(self._selected) * self._dataset.dtype.itemsize
        self._guard.check_bytes(nbytes, f"{self._where} ({Path(self._file.filename).name})",
                                already)
        return self._read_whole() if self._rows is None else self.read(0, len(self._rows))

    def close(self) -> None:
        self._file.close()


def hdf5_file_loader(parameters: Mapping[str, Any]) -> Any:
    """The loader of one file of a multipart HDF5 sequence: its whole (sliced) dataset.

    Returns ``load(path, guard, already) -> array`` for
    :class:`~._sources._ImageSequenceSource`.
    """

    def load(path: Path, guard: _FileGuard, already: int = 0) -> np.ndarray:
        source = _HDF5Source(Path(path), parameters, guard)
        try:
            return source.read_all(already)
        finally:
            source.close()

    return load
