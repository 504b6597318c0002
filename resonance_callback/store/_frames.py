"""The Zarr frame store: append frames to arrays and say where they went.

Knows nothing about documents or SQL. Each array holds the frames of one field of one
stream of one run, stacked along axis 0, one frame per chunk. A small pool of background
threads encodes each frame with the array's own codecs (``numcodecs``, which releases the
GIL), from the caller's read-only array or a copy made at :meth:`FrameStore.append`, and
puts its bytes where zarr reads that chunk (in an object store, a shard at a time:
:mod:`._shards`), so none of zarr's per-chunk Python runs on the write path. The array's
shape is grown once per :meth:`FrameStore.flush`, after every frame before it is written;
callers must ``flush()`` before recording the frames as written anywhere a reader could
see them. An array whose codecs or store this does not know (a ``MemoryStore``, an array
made by another tool) is written through zarr itself, one frame at a time.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore
from zarr.types import AnyArray

from resonance_callback.errors import FrameShapeError, StorageError
from resonance_callback.store._codecs import (
    ARRAY_CONFIG,
    DEFAULT_CODEC,
    chunk_encoder,
    codec_name,
    make_codec,
)
from resonance_callback.store._frames_group import WritableGroup
from resonance_callback.store._shards import (
    PUT_THREADS,
    STORE_ERRORS,
    Shard,
    ShardBuffer,
    shard_options,
    write_shard,
)
from resonance_callback.store._zarr_files import put_chunk

__all__ = ["FrameStore"]

#: Threads compressing and writing frames (the codecs release the GIL).
WRITE_THREADS = min(2, os.cpu_count() or 1)

#: Bytes of frames handed to the write threads and not yet written beyond which
#: :meth:`FrameStore.append` waits for the oldest writes to end.
INFLIGHT_BYTES = 64 * 1024**2

#: ``numpy.dtype.kind`` of the frames stored: booleans and numbers. Anything else
#: (``object`` from elements of mixed types, strings, structured records) is refused.
FRAME_KINDS = frozenset("biufc")

@dataclass
class _Array:
    array: AnyArray
    codec: str
    frame_shape: tuple[int, ...]
    dtype: np.dtype
    length: int  # frames appended (written, being written or waiting for the resize)
    stored: int  # the array's shape along axis 0 in its metadata
    encode: Callable[[np.ndarray], Any] | None  # None: written through zarr
    chunk_dir: str = ""  # the array's directory, for the fast path
    shards: ShardBuffer | None = None  # an object store's array: frames held per shard


class FrameStore:
    """Frames of many arrays in one Zarr v3 group.

    Parameters
    ----------
    store : Path, str or zarr.abc.store.Store
        A directory for the group (created if missing), or any zarr store
        (a ``zarr.storage.MemoryStore`` in tests).
    codec : str, optional
        The codec for new arrays (see :func:`make_codec`).
    """

    def __init__(self, store: Path | str | Any, *, codec: str = DEFAULT_CODEC) -> None:
        self._codec = make_codec(codec)
        self._location = str(store)
        self._root = WritableGroup(store)  # a new folder's: opened at the first frame
        self._arrays: dict[str, _Array] = {}
        self._pool: ThreadPoolExecutor | None = None  # started at the first frame
        self._puts: ThreadPoolExecutor | None = None  # started at the first shard
        # Writes handed to the pool, oldest first: (future, bytes, array path, frame index).
        self._inflight: deque[tuple[Future[None], int, str, int]] = deque()
        self._inflight_bytes = 0

    @property
    def _group(self) -> zarr.Group:
        return self._root.group()

    @property
    def group(self) -> zarr.Group:
        """The root Zarr group."""
        return self._group

    def _array_at(self, path: str) -> AnyArray:
        """The array stored at ``path``; a group there is a store another tool changed."""
        node = self._group[path]
        if not isinstance(node, zarr.Array):
            raise StorageError(f"{path} in {self._location} is a group, not a frame array")
        return node

    def _open(self, path: str, frame: np.ndarray) -> _Array:
        entry = self._arrays.get(path)
        if entry is not None:
            return entry
        try:
            if path in self._group:
                array = self._array_at(path)
            else:
                array = self._group.create_array(
                    path, shape=(0, *frame.shape), chunks=(1, *frame.shape),
                    dtype=frame.dtype, compressors=self._codec, fill_value=0,
                    config=ARRAY_CONFIG, **shard_options(self._group, frame),
                )
        except OSError as exc:
            raise StorageError(f"cannot create array {path} in {self._location}: {exc}") from exc
        store = array.store_path.store
        root = store.root if isinstance(store, LocalStore) else None
        encode = chunk_encoder(array) if root is not None else None
        entry = _Array(array, codec_name(array), tuple(array.shape[1:]), array.dtype,
                       array.shape[0], array.shape[0], encode,
                       os.path.join(root, array.path) if encode and root is not None else "")
        entry.shards = ShardBuffer.of(array)
        self._arrays[path] = entry
        return entry

    def append(self, path: str, frame: np.ndarray) -> tuple[int, str]:
        """Hand one frame of the array at ``path`` to the writers and return where it goes.

        The frame is written later, by a write thread, from a copy made here;
        a read-only array that owns its data (nothing can change it) is
        written as it is.

        Parameters
        ----------
        path : str
            Array path inside the group, e.g. ``runs/<uid>/primary/img``.
        frame : numpy.ndarray
            One frame (any number of dimensions); its dtype is kept.

        Returns
        -------
        frame_index : int
            Zero-based index of the frame along axis 0.
        codec : str
            The codec the array really uses.

        Raises
        ------
        FrameShapeError
            If the frame's shape differs from the array's, its dtype cannot
            be stored in the array's dtype without loss, or it holds no numbers
            (see :data:`FRAME_KINDS`); nothing is written then.
        StorageError
            If an earlier frame could not be written.
        """
        frame = np.asarray(frame)
        if frame.dtype.kind not in FRAME_KINDS:
            raise FrameShapeError(
                f"frame of dtype {frame.dtype} is not numbers (elements of mixed or "
                f"non-numeric types?): only numeric and boolean frames are stored in {path}")
        entry = self._open(path, frame)
        if frame.shape != entry.frame_shape:
            raise FrameShapeError(
                f"frame of shape {frame.shape} does not fit array {path} "
                f"of frame shape {entry.frame_shape}"
            )
        if frame.dtype != entry.dtype and not np.can_cast(frame.dtype, entry.dtype, "safe"):
            raise FrameShapeError(
                f"frame of dtype {frame.dtype} does not fit array {path} of dtype {entry.dtype}"
            )
        index = entry.length
        if entry.shards is not None:
            self._hand_over(path, entry.shards.add(index, frame, self._writers().submit))
        elif entry.encode is None:
            self._write_through_zarr(path, entry, index, frame)
        else:
            if frame.flags.writeable or not frame.flags.owndata:
                frame = frame.copy()  # the caller may reuse its buffer: write what it was
            self._reap(INFLIGHT_BYTES - frame.nbytes)
            key = entry.array.metadata.encode_chunk_key((index,) + (0,) * len(entry.frame_shape))
            future = self._writers().submit(self._write_chunk, entry.encode,
                                       os.path.join(entry.chunk_dir, key), frame)
            self._inflight.append((future, frame.nbytes, path, index))
            self._inflight_bytes += frame.nbytes
        entry.length = index + 1
        return index, entry.codec

    def _writers(self) -> ThreadPoolExecutor:  # started at the first frame
        if self._pool is None:
            self._pool = ThreadPoolExecutor(WRITE_THREADS, thread_name_prefix="resonance-frames")
        return self._pool

    def _hand_over(self, path: str, shard: Shard | None) -> None:
        """Hand a shard to the put threads (which wait for the write threads, never back)."""
        if shard is not None:
            self._reap(INFLIGHT_BYTES - shard.nbytes)
            if self._puts is None:
                self._puts = ThreadPoolExecutor(PUT_THREADS, thread_name_prefix="resonance-puts")
            self._inflight.append((self._puts.submit(write_shard, shard), shard.nbytes,
                                   path, shard.start))
            self._inflight_bytes += shard.nbytes

    @staticmethod
    def _write_chunk(encode: Callable[[np.ndarray], Any], chunk_path: str,
                     frame: np.ndarray) -> None:
        put_chunk(chunk_path, encode(frame))

    def _write_through_zarr(self, path: str, entry: _Array, index: int,
                            frame: np.ndarray) -> None:
        try:
            entry.array.resize((index + 1, *entry.frame_shape))
            entry.array[index] = frame
        except OSError as exc:
            raise StorageError(
                f"cannot write frame {index} of {path} in {self._location}: {exc}") from exc
        entry.stored = index + 1

    def _reap(self, limit: int) -> None:
        """Wait for the oldest writes until at most ``limit`` bytes are in flight.

        Writes already done are collected on the way; the first that failed
        is raised as a :class:`StorageError` naming the frame and the store.
        """
        inflight = self._inflight
        while inflight and (self._inflight_bytes > limit or inflight[0][0].done()):
            future, nbytes, path, index = inflight.popleft()
            self._inflight_bytes -= nbytes
            try:
                future.result()
            except OSError as exc:
                raise StorageError(
                    f"cannot write frame {index} of {path} in {self._location}: {exc}") from exc

    def flush(self) -> None:
        """Wait until every frame handed over is written, then grow the arrays to hold them.

        Raises
        ------
        StorageError
            If a frame or an array's metadata could not be written.
        """
        for path, entry in self._arrays.items():
            if entry.shards is not None and entry.length > entry.stored:
                self._hand_over(path, entry.shards.partial())
        self._reap(-1)
        for path, entry in self._arrays.items():
            if entry.length > entry.stored:
                try:
                    entry.array.resize((entry.length, *entry.frame_shape))
                except STORE_ERRORS as exc:
                    raise StorageError(
                        f"cannot grow array {path} in {self._location}: {exc}") from exc
                entry.stored = entry.length

    def frame_layout(self, path: str) -> tuple[tuple[int, ...], np.dtype] | None:
        """Return ``(frame shape, dtype)`` of the array at ``path``, or None if there is none."""
        entry = self._arrays.get(path)
        if entry is not None:
            return entry.frame_shape, entry.dtype
        if path not in self._group:
            return None
        array = self._array_at(path)
        return array.shape[1:], array.dtype

    def pending_frames(self) -> int:
        """Return how many frames were handed over and are not yet flushed."""
        return sum(entry.length - entry.stored for entry in self._arrays.values())

    def forget(self, prefix: str) -> None:
        """Flush and drop cached arrays whose path starts with ``prefix`` (a finished run)."""
        self.flush()
        for path in [p for p in self._arrays if p.startswith(prefix)]:
            del self._arrays[path]

    def close(self) -> None:
        """Stop the write threads once their writes end (``flush()`` first to keep them)."""
        for pool in (self._puts, self._pool):  # the puts first: they wait on the writers
            if pool is not None:
                pool.shutdown(wait=True)
        self._pool = self._puts = None
        self._inflight.clear()
        self._inflight_bytes = 0

    def read(self, path: str, index: int) -> np.ndarray:
        """Return frame ``index`` of the array at ``path`` (flushed frames only)."""
        return np.asarray(self._array_at(path)[index])
