"""Frames of an array in an object store, written a shard at a time.

An object store wants few large objects, not one per frame: an array there is made
with zarr v3 shards of :func:`frames_per_shard` frames (each frame still its own inner
chunk, so a reader fetches one frame with one ranged read). :class:`ShardBuffer`
holds the frames of the array's current shard in memory (bounded by
:data:`SHARD_BYTES`) until the shard is full; the full shard is then written in one
put, by a write thread. :meth:`ShardBuffer.partial` hands out the frames of a shard
not yet full, for a flush to write (a later flush, or the full shard, rewrites it).

A shard is written through a view of the array whose shape reaches the shard's end
without the array's metadata being written: the metadata is grown once per flush,
after every frame before it is durable (:meth:`FrameStore.flush`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import zarr
from zarr.core.array import AsyncArray
from zarr.types import AnyArray

from resonance_callback.errors import StorageError

__all__ = ["SHARD_BYTES", "STORE_ERRORS", "ShardBuffer", "frames_per_shard", "is_object_store",
           "shard_options", "write_shard"]

#: Bytes of frames (uncompressed) a shard holds at most, and so a buffer in memory.
SHARD_BYTES = 16 * 1024**2

#: Frames a shard holds at most (small frames: a flush rewrites at most this many).
MAX_SHARD_FRAMES = 512


def frames_per_shard(frame: np.ndarray) -> int:
    """How many frames like ``frame`` one shard of a new array holds."""
    return max(1, min(MAX_SHARD_FRAMES, SHARD_BYTES // max(1, frame.nbytes)))


def _store_errors() -> tuple[type[BaseException], ...]:
    try:
        from obstore.exceptions import BaseError
    except ModuleNotFoundError:
        return (OSError,)
    return (OSError, BaseError)


#: What a store raises when it cannot be written: an ``OSError``, or obstore's own errors.
STORE_ERRORS = _store_errors()


def is_object_store(node: AnyArray | zarr.Group) -> bool:
    """Whether the array or group lives in an object store (zarr's ``ObjectStore``)."""
    from zarr.storage import ObjectStore

    return isinstance(node.store_path.store, ObjectStore)


def shard_options(group: zarr.Group, frame: np.ndarray) -> dict[str, Any]:
    """``create_array``'s keywords for a new array of frames like ``frame`` in ``group``.

    Sharded along axis 0 in an object store; nothing (one chunk file per frame) elsewhere.
    """
    if not is_object_store(group):
        return {}
    return {"shards": (frames_per_shard(frame), *frame.shape)}


class ShardBuffer:
    """The frames of an array's current shard, waiting for the shard to fill.

    Parameters
    ----------
    array : zarr.Array
        A sharded array, sharded along axis 0 only.
    length : int
        Frames the array holds already (the next frame's index).
    """

    def __init__(self, array: AnyArray, length: int) -> None:
        shards = array.shards
        assert shards is not None
        self.array = array
        self.size = int(shards[0])
        self.frame_shape = tuple(array.shape[1:])
        self.start = length - length % self.size  # first frame of the current shard
        self.count = length - self.start  # frames of it held (from an earlier session: 0)
        self._frames: np.ndarray | None = None
        if self.count:  # a shard left partial: its frames are read back to complete it
            self._frames = self._new()
            self._frames[:self.count] = array[self.start:length]

    @classmethod
    def of(cls, array: AnyArray) -> ShardBuffer | None:
        """The buffer of an array of an object store sharded along axis 0, else None."""
        shards = array.shards
        if not is_object_store(array) or shards is None or tuple(shards[1:]) != tuple(
                array.shape[1:]):
            return None
        return cls(array, array.shape[0])

    def _new(self) -> np.ndarray:
        return np.empty((self.size, *self.frame_shape), dtype=self.array.dtype)

    def add(self, index: int, frame: np.ndarray) -> tuple[AnyArray, int, np.ndarray] | None:
        """Hold frame ``index``; return ``(array, first index, frames)`` of the shard it fills."""
        assert index == self.start + self.count
        if self._frames is None:
            self._frames = self._new()
        self._frames[self.count] = frame
        self.count += 1
        if self.count < self.size:
            return None
        full, start = self._frames, self.start
        self._frames, self.start, self.count = None, self.start + self.size, 0
        return self.array, start, full

    def partial(self) -> tuple[AnyArray, int, np.ndarray] | None:
        """``(array, first index, frames)`` of the shard not yet full, or None if it holds none.

        The frames stay held: the shard is written again once full.
        """
        if not self.count or self._frames is None:
            return None
        return self.array, self.start, self._frames[:self.count]

    @property
    def nbytes(self) -> int:
        """Bytes of the frames held."""
        return 0 if self._frames is None else self._frames.nbytes


def write_shard(array: AnyArray, start: int, frames: np.ndarray) -> None:
    """Write ``frames`` at ``start`` (one shard, whole or its first frames) in one put.

    The array's metadata is not touched: the write goes through a view whose
    shape ends where the frames end.
    """
    stop = start + frames.shape[0]
    metadata = replace(array.metadata, shape=(stop, *array.shape[1:]))
    view: AnyArray = zarr.Array(AsyncArray(metadata, array.store_path,
                                           array._async_array.config))
    try:
        view[start:stop] = frames
    except STORE_ERRORS as exc:
        raise StorageError(str(exc).strip().splitlines()[0][:300] if str(exc).strip()
                           else type(exc).__name__) from exc
