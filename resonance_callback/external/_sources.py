"""Readers of ophyd-async ``stream_resource`` files: HDF5 datasets and TIFF/JPEG sequences."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from resonance_callback._extras import needs_extra
from resonance_callback.errors import ExternalDataError, FrameShapeError
from resonance_callback.external._common import (
    _as_count,
    _NotReadyError,
)
from resonance_callback.external._guard import _FileGuard
from resonance_callback.external._templates import sequence_file

# --------------------------------------------------------------------------- stream sources


class _FrameSource(Protocol):
    """The frames of one stream_resource, as a sequence along axis 0."""

    def frame_info(self, hint: int) -> tuple[tuple[int, ...], np.dtype]:
        """Return ``(frame_shape, dtype)``; ``hint`` is a frame index known to exist."""

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return frames ``[start, stop)``, raising ``_NotReadyError`` if short."""

    def close(self) -> None:
        """Release any open file."""


def _load_tiff(path: str | Path, guard: _FileGuard, already: int = 0) -> np.ndarray:
    """Read a TIFF file's first series, refusing one that declares more bytes than the bound.

    ``already`` is what the same read took before this file (see ``_FileGuard.check_bytes``).
    """
    import tifffile  # a dependency, imported when a TIFF file is read

    with tifffile.TiffFile(path) as tiff:
        series = tiff.series[0]
        nbytes = math.prod(series.shape) * np.dtype(series.dtype).itemsize
        guard.check_bytes(nbytes, f"TIFF {path}", already)
        array = tiff.asarray()
    guard.count(nbytes)
    return array


def _load_npy(path: Path, guard: _FileGuard, already: int = 0) -> np.ndarray:
    """Read a ``.npy`` file (never a pickle), measured by its size; one that ends early waits."""
    nbytes = os.stat(path).st_size
    guard.check_bytes(nbytes, f"NPY {path}", already)
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:  # cut short, or not fully written yet
        raise _NotReadyError(f"NPY {path}: {exc}") from exc
    guard.count(nbytes)
    return np.asarray(array)


def _load_bytes(path: Path, guard: _FileGuard, already: int = 0) -> np.ndarray:
    """Read a file's bytes (``application/octet-stream``) as a 1-D ``uint8`` array."""
    nbytes = os.stat(path).st_size
    guard.check_bytes(nbytes, f"octet-stream {path}", already)
    with open(path, "rb") as file:
        data = file.read(nbytes + 1)
    if len(data) != nbytes:
        raise _NotReadyError(f"octet-stream {path}: its size changed while it was read")
    guard.count(nbytes)
    return np.frombuffer(data, dtype=np.uint8)


def _load_jpeg(path: Path, guard: _FileGuard, already: int = 0) -> np.ndarray:
    """Read a JPEG file, refusing one that declares more pixels than the bound allows."""
    with needs_extra("jpeg", "Pillow", "reading JPEG files"):
        from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        nbytes = width * height * len(image.getbands())
        guard.check_bytes(nbytes, f"JPEG {path}", already)
        image.load()
        array = np.asarray(image)
    guard.count(nbytes)
    return array


class _ImageSequenceSource:
    """Frames spread over numbered files in one directory (multipart/related).

    ``parameters["template"]`` names file ``i`` (inside the directory, or
    appended to a file stem, as :func:`~._common.sequence_file` reads it); each file holds
    ``parameters["chunk_shape"][0]`` frames (default 1), as bluesky's
    consolidators define it.
    """

    def __init__(
        self,
        directory: Path,
        parameters: Mapping[str, Any],
        load: Callable[[Path, _FileGuard, int], np.ndarray],
        guard: _FileGuard,
        per_file: int | None = None,
    ) -> None:
        self._directory = directory
        self._template = str(parameters["template"])
        self._filename = str(parameters.get("filename", ""))
        chunk_shape = parameters.get("chunk_shape") or (1,)
        self._per_file = per_file or _as_count(chunk_shape[0], "chunk_shape[0]", str(directory))
        self._load = load
        self._guard = guard
        self._files: dict[int, np.ndarray] = {}
        self._loaded = 0  # bytes of the files in _files: one read, bounded as one

    def _path(self, number: int) -> Path:
        where = f"{self._directory} template {self._template!r}"
        path = Path(sequence_file(str(self._directory), self._template, self._filename, number,
                                  where))
        self._guard.check(path, where)
        return path

    def _frames_of_file(self, number: int) -> np.ndarray:
        if number not in self._files:
            path = self._path(number)
            array = np.asarray(self._load(path, self._guard, self._loaded))
            self._loaded += array.nbytes
            if self._per_file == 1:
                array = array[np.newaxis]
            elif array.ndim == 0 or array.shape[0] != self._per_file:
                raise _NotReadyError(
                    f"{path} holds {array.shape[:1]} frames, not {self._per_file}"
                )
            self._files[number] = array
        return self._files[number]

    def frame_info(self, hint: int) -> tuple[tuple[int, ...], np.dtype]:
        frames = self._frames_of_file(hint // self._per_file)
        return tuple(frames.shape[1:]), frames.dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        if stop <= start:
            return self._frames_of_file(start // self._per_file)[:0]
        first, last = start // self._per_file, (stop - 1) // self._per_file
        frames = np.concatenate([self._frames_of_file(n) for n in range(first, last + 1)])
        offset = first * self._per_file
        return frames[start - offset : stop - offset]

    def close(self) -> None:
        self._files.clear()
        self._loaded = 0


def _fixed_shape(declared: Sequence[int | None], where: str) -> tuple[int, ...]:
    """Return the declared per-event shape as ints, refusing variable (None) sizes."""
    shape = []
    for size in declared:
        if size is None:
            raise ExternalDataError(
                f"{where}: variable-sized shape {list(declared)} not supported"
            )
        shape.append(int(size))
    return tuple(shape)



def _without_leading_ones(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def fit_declared(array: np.ndarray, declared: Sequence[int | None] | None, where: str
                 ) -> np.ndarray:
    """Return a datum's array in the per-event shape its descriptor declares, or refuse it.

    Never reshapes data: an array is given the declared shape only when the
    two differ in leading axes of length 1 (``(1, H, W)`` read, ``[H, W]``
    declared, or the reverse). An array that holds several frames of the
    declared shape (``(k, H, W)`` for ``[H, W]``: ``frame_per_point`` frames)
    is kept as it is, as TiledWriter keeps them. A declaration with a
    variable (None) size, or none at all, takes the array as it is.

    Raises
    ------
    FrameShapeError
        The array's frames are not of the declared shape (naming ``where``,
        both shapes and the dtype).
    """
    if declared is None or any(not isinstance(size, int) for size in declared):
        return array
    shape = tuple(int(size) for size in declared)  # type: ignore[arg-type]
    if array.shape == shape:
        return array
    frame = _without_leading_ones(shape)
    if _without_leading_ones(array.shape) == frame:
        return array.reshape(shape)
    if array.shape[len(array.shape) - len(frame):] == frame and len(array.shape) > len(frame):
        return array
    raise FrameShapeError(
        f"{where}: the file holds an array of shape {list(array.shape)} ({array.dtype}), "
        f"the descriptor declares {list(shape)} per event; not stored (never reshaped)"
    )
