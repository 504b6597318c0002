"""Frames of an array in an object store, written a shard at a time.

An object store wants few large objects, not one per frame: an array there is made
with zarr v3 shards of :func:`frames_per_shard` frames (each frame still its own inner
chunk, so a reader fetches one frame with one ranged read). :class:`ShardBuffer`
holds the array's current shard in memory (bounded by :data:`SHARD_BYTES` of frames)
until the shard is full; the full shard is then written in one put, by a put thread.
:meth:`ShardBuffer.partial` hands out the shard not yet full, for a flush to write (a
later flush, or the full shard, rewrites it).

Each frame is encoded as it arrives, by the write threads (the array's own codecs
through numcodecs, which release the GIL), so the encoding overlaps the frames still
arriving and the put of the shard before; a full shard is then its frames' bytes and
zarr's shard index with its CRC32C at the end (the bytes zarr would write), put in one
request. An array whose codecs this does not know is held frame by frame and written
through a view of the array whose shape reaches the shard's end. Either way
the array's metadata is not written: it is grown once per flush, after every frame
before it is durable (:meth:`FrameStore.flush`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
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

__all__ = ["PUT_THREADS", "SHARD_BYTES", "STORE_ERRORS", "Shard", "ShardBuffer", "frames_per_shard",
           "is_object_store", "shard_options", "write_shard"]

#: Bytes of frames (uncompressed) a shard holds at most, and so a buffer in memory.
SHARD_BYTES = 16 * 1024**2

#: Threads putting shards (waiting on the network, mostly). A put waits for its frames'
#: encoding by the write threads, which never wait for a put: neither holds the other up.
PUT_THREADS = 2

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


@dataclass
class Shard:
    """A shard to put: whole, or the first frames of one a flush writes (and later rewrites)."""

    buffer: ShardBuffer
    start: int  # its first frame's index
    count: int  # frames it holds
    nbytes: int  # bytes of those frames, uncompressed
    frames: np.ndarray | None = None  # the frames, for an array zarr writes
    parts: list[Future[Any]] = field(default_factory=list)  # or each frame's encoded bytes


class ShardBuffer:
    """The frames of an array's current shard, waiting for the shard to fill.

    A frame of an array whose codecs :func:`_shard_encoder` knows is encoded as it
    arrives, by the write threads (``submit``): a full shard then only waits for its
    last frames and is put; the frames are not kept, their encoded bytes are. Another
    array's frames are held as they are until zarr writes them.

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
        self.frame_bytes = int(np.prod(self.frame_shape)) * array.dtype.itemsize
        self.start = length - length % self.size  # first frame of the current shard
        self.count = 0  # frames of it held
        self._frames: np.ndarray | None = None
        self._parts: list[Future[Any]] = []
        if length > self.start:  # a shard left partial: its frames are read back to complete it
            for i, frame in enumerate(np.asarray(array[self.start:length])):
                self.add(self.start + i, frame, _at_once)

    @classmethod
    def of(cls, array: AnyArray) -> ShardBuffer | None:
        """The buffer of an array of an object store sharded along axis 0, else None."""
        shards = array.shards
        if not is_object_store(array) or shards is None or tuple(shards[1:]) != tuple(
                array.shape[1:]):
            return None
        return cls(array, array.shape[0])

    def add(self, index: int, frame: np.ndarray, submit: Submit) -> Shard | None:
        """Hold frame ``index`` (``submit`` encodes it later); return the shard it fills."""
        assert index == self.start + self.count
        if self.encode is not None:
            if frame.flags.writeable or not frame.flags.owndata:
                frame = frame.copy()  # the caller may reuse its buffer: write what it was
            self._parts.append(submit(self.encode, frame))
        else:
            if self._frames is None:
                self._frames = np.empty((self.size, *self.frame_shape), dtype=self.array.dtype)
            self._frames[self.count] = frame
        self.count += 1
        if self.count < self.size:
            return None
        full = self._shard(self._frames, self._parts)
        self._frames, self._parts, self.start, self.count = None, [], self.start + self.size, 0
        return full

    def _shard(self, frames: np.ndarray | None, parts: list[Future[Any]]) -> Shard:
        return Shard(self, self.start, self.count, self.count * self.frame_bytes,
                     None if frames is None else frames[:self.count], parts)

    def partial(self) -> Shard | None:
        """The shard not yet full, or None if it holds no frame.

        Its frames stay held: the shard is written again once full.
        """
        if not self.count:
            return None
        return self._shard(self._frames, list(self._parts))

    @property
    def nbytes(self) -> int:
        """Bytes of the frames held (uncompressed)."""
        return self.count * self.frame_bytes


#: How a frame is handed to the write threads: ``submit(encode, frame)`` (an executor's).
Submit = Callable[[Callable[[np.ndarray], Any], np.ndarray], "Future[Any]"]


def _at_once(encode: Callable[[np.ndarray], Any], frame: np.ndarray) -> Future[Any]:
    """``encode(frame)`` now, as a future that is done."""
    done: Future[Any] = Future()
    done.set_result(encode(frame))
    return done


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
    return _assemble([encode(frame) for frame in frames], size)


def _assemble(encoded: list[Any], size: int) -> bytes:
    """A shard of ``size`` frames from the encoded bytes of its first frames and its index."""
    parts = [memoryview(part).cast("B") for part in encoded]
    index = np.full((size, 2), np.iinfo(np.uint64).max, dtype="<u8")
    offset = 0
    for i, part in enumerate(parts):
        index[i] = offset, part.nbytes
        offset += part.nbytes
    tail = index.tobytes()
    return b"".join([*parts, tail, google_crc32c.value(tail).to_bytes(4, "little")])


def write_shard(shard: Shard) -> None:
    """Put ``shard`` (whole, or its first frames) in one request, once its frames are encoded.

    The array's metadata is not touched (see the module documentation).
    """
    buffer = shard.buffer
    array = buffer.array
    try:
        if shard.frames is None:
            key = array.metadata.encode_chunk_key(
                (shard.start // buffer.size,) + (0,) * (array.ndim - 1))
            data = _assemble([part.result() for part in shard.parts], buffer.size)
            obstore_module().put(array.store_path.store.store,  # type: ignore[attr-defined]
                                 f"{array.store_path.path}/{key}", data, use_multipart=False)
            return
        stop = shard.start + shard.count
        metadata = replace(array.metadata, shape=(stop, *array.shape[1:]))
        view: AnyArray = zarr.Array(AsyncArray(metadata, array.store_path,
                                               array._async_array.config))
        view[shard.start:stop] = shard.frames
    except STORE_ERRORS as exc:
        raise StorageError(str(exc).strip().splitlines()[0][:300] if str(exc).strip()
                           else type(exc).__name__) from exc
