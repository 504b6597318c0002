"""Frames of an array in an object store, written a shard at a time.

An object store wants few large objects, not one per frame: an array there is made
with zarr v3 shards of :func:`frames_per_shard` frames (each frame still its own inner
chunk, so a reader fetches one frame with one ranged read). :class:`ShardBuffer`
holds the frames of the array's current shard in memory (bounded by
:data:`SHARD_BYTES`) until the shard is full; the full shard is then written in one
put, by a write thread. :meth:`ShardBuffer.partial` hands out the frames of a shard
not yet full, for a flush to write (a later flush, or the full shard, rewrites it).

A shard is encoded here (each frame by the array's own codecs through numcodecs, which
releases the GIL, then zarr's shard index and its CRC32C at the end: the bytes zarr
would write) and put in one request; an array whose codecs this does not know is
written through a view of the array whose shape reaches the shard's end. Either way
the array's metadata is not written: it is grown once per flush, after every frame
before it is durable (:meth:`FrameStore.flush`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import google_crc32c
import numpy as np
import zarr
from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec, ShardingCodecIndexLocation
from zarr.codecs.bytes import Endian
from zarr.core.array import AsyncArray
from zarr.types import AnyArray

from resonance_callback._extras import needs_extra
from resonance_callback.errors import StorageError
from resonance_callback.store._codecs import chunk_encoder
from resonance_callback.store._frame_location import obstore_module

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
        with needs_extra("s3", "obstore", "frames on object storage"):
            from obstore.exceptions import BaseError
    except ImportError:  # no object stores without it
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
        self.encode = _shard_encoder(array)
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

    def add(self, index: int, frame: np.ndarray) -> tuple[ShardBuffer, int, np.ndarray] | None:
        """Hold frame ``index``; return ``(self, first index, frames)`` of the shard it fills."""
        assert index == self.start + self.count
        if self._frames is None:
            self._frames = self._new()
        self._frames[self.count] = frame
        self.count += 1
        if self.count < self.size:
            return None
        full, start = self._frames, self.start
        self._frames, self.start, self.count = None, self.start + self.size, 0
        return self, start, full

    def partial(self) -> tuple[ShardBuffer, int, np.ndarray] | None:
        """``(self, first index, frames)`` of the shard not yet full, or None if it holds none.

        The frames stay held: the shard is written again once full.
        """
        if not self.count or self._frames is None:
            return None
        return self, self.start, self._frames[:self.count]

    @property
    def nbytes(self) -> int:
        """Bytes of the frames held."""
        return 0 if self._frames is None else self._frames.nbytes


def _shard_encoder(array: AnyArray) -> Callable[[np.ndarray], Any] | None:
    """The encoder of one frame of the array's shards, or None: zarr writes them.

    Only for the arrays :class:`FrameStore` makes: one sharding codec, one frame per
    inner chunk, the default index (little-endian, CRC32C, at the end).
    """
    codecs = array.metadata.codecs if array.metadata.zarr_format == 3 else ()
    if len(codecs) != 1 or not isinstance(codecs[0], ShardingCodec):
        return None
    sharding = codecs[0]
    index = sharding.index_codecs
    if (sharding.index_location != ShardingCodecIndexLocation.end or len(index) != 2
            or not isinstance(index[0], BytesCodec) or index[0].endian != Endian.little
            or not isinstance(index[1], Crc32cCodec)):
        return None
    return chunk_encoder(array)


def shard_bytes(encode: Callable[[np.ndarray], Any], frames: np.ndarray, size: int) -> bytes:
    """The bytes of a shard of ``size`` frames holding ``frames`` first (the rest empty)."""
    parts = [memoryview(encode(frame)).cast("B") for frame in frames]
    index = np.full((size, 2), np.iinfo(np.uint64).max, dtype="<u8")
    offset = 0
    for i, part in enumerate(parts):
        index[i] = offset, part.nbytes
        offset += part.nbytes
    tail = index.tobytes()
    return b"".join([*parts, tail, google_crc32c.value(tail).to_bytes(4, "little")])


def write_shard(buffer: ShardBuffer, start: int, frames: np.ndarray) -> None:
    """Write ``frames`` at ``start`` (one shard, whole or its first frames) in one put.

    The array's metadata is not touched (see the module documentation).
    """
    array = buffer.array
    stop = start + frames.shape[0]
    if buffer.encode is not None:
        key = array.metadata.encode_chunk_key((start // buffer.size,) + (0,) * (array.ndim - 1))
        try:
            obstore_module().put(array.store_path.store.store,  # type: ignore[attr-defined]
                        f"{array.store_path.path}/{key}",
                        shard_bytes(buffer.encode, frames, buffer.size), use_multipart=False)
        except STORE_ERRORS as exc:
            raise StorageError(str(exc).strip().splitlines()[0][:300] if str(exc).strip()
                               else type(exc).__name__) from exc
        return
    metadata = replace(array.metadata, shape=(stop, *array.shape[1:]))
    view: AnyArray = zarr.Array(AsyncArray(metadata, array.store_path,
                                           array._async_array.config))
    try:
        view[start:stop] = frames
    except STORE_ERRORS as exc:
        raise StorageError(str(exc).strip().splitlines()[0][:300] if str(exc).strip()
                           else type(exc).__name__) from exc
