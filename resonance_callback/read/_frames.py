"""Read frames back from the Zarr store, lazily and read-only.

:class:`FrameReader` opens the store read-only and hands out arrays by path,
reopening one when a caller asks for a frame past the length it last saw (the
writer grows arrays while a run is live). :class:`FrameArray` is what
:meth:`Run.images <resonance_callback.read.Run.images>` returns: a sequence
of frames addressed through ``image_refs`` that reads only the frames indexed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.types import AnyArray

from resonance_callback.errors import FrameShapeError, StorageError
from resonance_callback.store import frame_stores

__all__ = ["FrameArray", "FrameReader"]


class FrameReader:
    """Read-only access to the arrays of a beamtime's Zarr store.

    Parameters
    ----------
    location : Path, str or zarr store
        The store directory (``{db stem}.zarr``) or any zarr store object.
        Opened on first use, never written.
    """

    def __init__(self, location: Path | str | Any) -> None:
        self._location = location
        self._group: zarr.Group | None = None
        self._arrays: dict[str, AnyArray] = {}
        self._lock = threading.Lock()

    def _root(self) -> zarr.Group:
        if self._group is None:
            where = self._location
            if (isinstance(where, Path | str) and not frame_stores.is_object_url(where)
                    and not Path(where).is_dir()):
                raise StorageError(f"no Zarr frame store at {where}")
            try:
                self._group = frame_stores.open_frames_group(where, writable=False)
            except StorageError:
                raise
            except (OSError, ValueError) as exc:
                raise StorageError(f"cannot open Zarr store {where}: {exc}") from exc
        return self._group

    def array(self, path: str, min_length: int = 0) -> AnyArray:
        """Return the array at ``path``, reopened if it holds fewer than ``min_length`` frames.

        Parameters
        ----------
        path : str
            Array path inside the store (``image_refs.zarr_path``).
        min_length : int, optional
            Frames the caller knows were committed; a cached array that is
            shorter is stale and is opened again.

        Returns
        -------
        zarr.Array
            The array, read-only.

        Raises
        ------
        StorageError
            If the store or the array cannot be opened, or is shorter than
            ``min_length`` even when opened afresh.
        """
        with self._lock:
            cached = self._arrays.get(path)
            if cached is not None and cached.shape[0] >= min_length:
                return cached
            try:
                array = self._root()[path]
            except (KeyError, OSError, ValueError) as exc:
                raise StorageError(f"cannot open frame array {path} in {self._location}: "
                                   f"{exc}") from exc
            if not isinstance(array, zarr.Array) or array.shape[0] < min_length:
                raise StorageError(
                    f"frame array {path} in {self._location} holds fewer than the "
                    f"{min_length} frames its references name"
                )
            self._arrays[path] = array
            return array

    def read(self, path: str, index: int) -> np.ndarray:
        """Return frame ``index`` of the array at ``path`` (reads one chunk)."""
        array = self.array(path, index + 1)
        try:
            return np.asarray(array[index])
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read frame {index} of {path}: {exc}") from exc


class _Span(Sequence[tuple[str, int]]):
    """The references of frames ``first`` .. ``first + n - 1`` of one array, not listed."""

    def __init__(self, path: str, first: int, n: int) -> None:
        self.path, self.first, self.n = path, first, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [(self.path, self.first + i) for i in range(self.n)[k]]
        if not -self.n <= k < self.n:
            raise IndexError(k)
        return (self.path, self.first + k % self.n)


class FrameArray:
    """A lazy, read-only sequence of the frames of one field of one stream.

    Indexing reads only the frames (Zarr chunks) asked for. When the frames
    are one contiguous run of one Zarr array, indexing is handed to that array
    whole, so ``frames[3, 10:20, 5:9]`` reads a single chunk and slices of
    frames are read in one call.

    Parameters
    ----------
    reader : FrameReader
        Where the frames are read from.
    refs : sequence of (str, int)
        ``(zarr_path, frame_index)`` of each frame, in event order.
    name : str, optional
        What the frames are, for messages and ``repr``.
    missing : mapping of int to str, optional
        Positions of frames that were never stored (``refs`` holds None
        there), each with why; reading one raises :class:`StorageError` with it.
    declared : (shape, dtype), optional
        The frame shape and dtype to report when no frame at all was stored.

    Attributes
    ----------
    shape : tuple of int
        ``(n_frames, *frame_shape)``; just ``(n_frames,)`` when frames of
        different shapes are mixed (then only integer indexing works).
    dtype : numpy.dtype
        The frames' common dtype.
    """

    def __init__(
        self, reader: FrameReader, refs: Sequence[tuple[str, int] | None], name: str = "", *,
        missing: Mapping[int, str] | None = None,
        declared: tuple[tuple[int, ...], np.dtype] | None = None,
    ) -> None:
        self._reader = reader
        self._missing = dict(missing or {})
        self.name = name
        self._contiguous: tuple[str, int] | None = None
        self._refs: Sequence[tuple[str, int] | None]
        if isinstance(refs, _Span):  # one span of one array: nothing to list
            self._refs = refs
            layout = reader.array(refs.path, refs.first + refs.n)
            self.frame_shape: tuple[int, ...] | None = tuple(layout.shape[1:])
            self.dtype: np.dtype = np.dtype(layout.dtype)
            self.shape: tuple[int, ...] = (refs.n, *self.frame_shape)
            self._contiguous = (refs.path, refs.first)
            return
        self._refs = [None if r is None else (str(r[0]), int(r[1])) for r in refs]
        stored = [r for r in self._refs if r is not None]
        paths = sorted({p for p, _ in stored})
        layouts = {p: reader.array(p, 1 + max(i for q, i in stored if q == p)) for p in paths}
        shapes = {tuple(a.shape[1:]) for a in layouts.values()}
        dtypes = [np.dtype(a.dtype) for a in layouts.values()]
        if not layouts and declared is not None:
            shapes, dtypes = {tuple(declared[0])}, [np.dtype(declared[1])]
        self.frame_shape = shapes.pop() if len(shapes) == 1 else None
        self.dtype = np.result_type(*dtypes) if dtypes else np.dtype("float64")
        n = len(self._refs)
        self.shape = (n, *(self.frame_shape or ()))
        if len(paths) == 1 and len(stored) == n:
            first = stored[0][1]
            if all(i == first + k for k, (_, i) in enumerate(stored)):
                self._contiguous = (paths[0], first)

    @classmethod
    def span(cls, reader: FrameReader, path: str, first: int, n: int, name: str = ""
             ) -> FrameArray:
        """The frames ``first`` .. ``first + n - 1`` of the array at ``path``, in that order.

        Nothing is listed: opening it and reading one frame cost the same
        however many frames the span holds.
        """
        return cls(reader, _Span(path, first, n), name)

    def _read(self, position: int) -> np.ndarray:
        ref = self._refs[position]
        if ref is None:
            raise StorageError(f"frame {position} of {self.name} was not stored: "
                               f"{self._missing.get(position, 'no frame')}")
        return self._reader.read(*ref)

    @property
    def paths(self) -> list[str]:
        """The Zarr array paths the frames live in."""
        if isinstance(self._refs, _Span):
            return [self._refs.path]
        return sorted({r[0] for r in self._refs if r is not None})

    @property
    def ndim(self) -> int:
        """Number of dimensions of :attr:`shape`."""
        return len(self.shape)

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"<FrameArray {self.name or ''} shape={self.shape} dtype={self.dtype}>"

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def _positions(self, key: Any) -> list[int] | int:
        n = len(self._refs)
        if isinstance(key, int | np.integer):
            k = int(key)
            if not -n <= k < n:
                raise IndexError(f"frame {k} out of range for {n} frames of {self.name}")
            return k % n
        if isinstance(key, slice):
            return list(range(n))[key]
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"boolean index of shape {idx.shape} for {n} frames")
            return [int(i) for i in np.flatnonzero(idx)]
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"cannot index frames with {key!r}")
        return [self._positions(int(i)) for i in idx]  # type: ignore[misc]

    def __getitem__(self, key: Any) -> np.ndarray:
        rest: tuple[Any, ...] = ()
        if isinstance(key, tuple):
            key, rest = (key[0], key[1:]) if key else (slice(None), ())
        if self._contiguous is not None and isinstance(key, int | np.integer | slice):
            return self._read_contiguous(key if isinstance(key, slice) else int(key), rest)
        where = self._positions(key)
        if isinstance(where, int):
            frame = self._read(where)
            return frame[rest] if rest else frame
        if self.frame_shape is None:
            raise FrameShapeError(
                f"frames of {self.name} have different shapes; index them one at a time"
            )
        out = np.empty((len(where), *self.frame_shape), dtype=self.dtype)
        for j, pos in enumerate(where):
            out[j] = self._read(pos)
        return out[(slice(None), *rest)] if rest else out

    def _read_contiguous(self, key: int | slice, rest: tuple[Any, ...]) -> np.ndarray:
        assert self._contiguous is not None
        path, first = self._contiguous
        n = len(self._refs)
        array = self._reader.array(path, first + n)
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step < 0:  # zarr slices go forwards only
                return self[(np.arange(start, stop, step), *rest)]
            sel: Any = slice(first + start, first + max(start, stop), step)
        else:
            sel = first + self._positions(key)  # type: ignore[operator]
        try:
            return np.asarray(array[(sel, *rest)])
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read frames {key} of {path}: {exc}") from exc
