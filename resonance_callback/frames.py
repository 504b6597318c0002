"""The Zarr frame store: append frames to arrays and say where they went.

Knows nothing about documents or SQL. Each array holds the frames of one
field of one stream of one run, stacked along axis 0, one frame per chunk.
Appends are buffered per array and written in one bulk assignment by
:meth:`FrameStore.flush` (one resize and one multi-chunk write instead of one
per frame), so callers must ``flush()`` before recording the frames as
written anywhere a reader could see them.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.abc.codec import BytesBytesCodec
from zarr.codecs import BloscCodec, ZstdCodec

from .errors import FrameShapeError, StorageError

__all__ = ["DEFAULT_CODEC", "FrameStore", "codec_name", "make_codec"]

#: The codec new arrays get unless told otherwise (chosen by benchmark; see README).
DEFAULT_CODEC = "blosc-lz4"

#: Runtime settings of the arrays the store writes: every chunk is a real frame, so
#: zarr's check of each chunk against the fill value (a full compare per frame,
#: about a third of a bulk write's time) is skipped.
ARRAY_CONFIG = {"write_empty_chunks": True}

#: Bytes of buffered frames per array that trigger a write before ``flush()`` (two
#: such blocks per array: one filling while the other is written).
BUFFER_BYTES = 32 * 1024**2


def make_codec(name: str) -> BytesBytesCodec | None:
    """Return the zarr codec for a short name.

    Parameters
    ----------
    name : str
        ``"blosc-lz4"``, ``"blosc-zstd"``, ``"zstd"`` or ``"none"``.

    Returns
    -------
    BytesBytesCodec or None
        ``None`` means no compression.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if name == "none":
        return None
    if name == "zstd":
        return ZstdCodec(level=0)
    if name.startswith("blosc-"):
        return BloscCodec(cname=name.removeprefix("blosc-"), clevel=5, shuffle="bitshuffle")
    raise ValueError(f"unknown frame codec {name!r}: use blosc-lz4, blosc-zstd, zstd or none")


def codec_name(array: zarr.Array) -> str:
    """Describe the compression an array really uses, e.g. ``"blosc-lz4"`` or ``"zstd"``.

    Parameters
    ----------
    array : zarr.Array
        An open array.

    Returns
    -------
    str
        Names of its byte-to-byte codecs joined by ``+``, or ``"none"``.
    """
    names = []
    for codec in array.compressors:
        if isinstance(codec, BloscCodec):
            names.append(f"blosc-{codec.cname.value}")
        else:
            names.append(str(codec.to_dict().get("name", type(codec).__name__)))
    return "+".join(names) or "none"


@dataclass
class _Pending:
    array: zarr.Array
    length: int  # frames written to the store
    codec: str
    frame_shape: tuple[int, ...] = ()
    dtype: np.dtype = field(default_factory=lambda: np.dtype("u1"))
    # Frames wait in a block, allocated at the first frame and reused: one copy per
    # frame in, a view out to zarr, no stacking. Two blocks take turns, so frames
    # keep arriving in one while the other is compressed and written.
    block: np.ndarray | None = None
    spare: np.ndarray | None = None
    count: int = 0  # frames waiting in the block
    writing: Future[None] | None = None  # the write of the other block, if any


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
        try:
            self._group = zarr.open_group(
                str(store) if isinstance(store, Path) else store, mode="a"
            )
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot open Zarr store {self._location}: {exc}") from exc
        self._arrays: dict[str, _Pending] = {}
        self._writer: ThreadPoolExecutor | None = None  # started at the first block

    @property
    def group(self) -> zarr.Group:
        """The root Zarr group."""
        return self._group

    def _open(self, path: str, frame: np.ndarray) -> _Pending:
        pending = self._arrays.get(path)
        if pending is not None:
            return pending
        try:
            if path in self._group:
                array = self._group[path]
            else:
                array = self._group.create_array(
                    path, shape=(0, *frame.shape), chunks=(1, *frame.shape),
                    dtype=frame.dtype, compressors=self._codec, fill_value=0,
                    config=ARRAY_CONFIG,
                )
        except OSError as exc:
            raise StorageError(f"cannot create array {path} in {self._location}: {exc}") from exc
        pending = _Pending(array, array.shape[0], codec_name(array), tuple(array.shape[1:]),
                           array.dtype)
        self._arrays[path] = pending
        return pending

    def append(self, path: str, frame: np.ndarray) -> tuple[int, str]:
        """Queue one frame for the array at ``path`` and return where it will be.

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
            If the frame's shape differs from the array's, or its dtype cannot
            be stored in the array's dtype without loss.
        """
        frame = np.asarray(frame)
        pending = self._open(path, frame)
        if frame.shape != pending.frame_shape:
            raise FrameShapeError(
                f"frame of shape {frame.shape} does not fit array {path} "
                f"of frame shape {pending.frame_shape}"
            )
        if frame.dtype != pending.dtype and not np.can_cast(frame.dtype, pending.dtype, "safe"):
            raise FrameShapeError(
                f"frame of dtype {frame.dtype} does not fit array {path} of dtype {pending.dtype}"
            )
        block = pending.block
        if block is None:
            capacity = max(1, BUFFER_BYTES // max(1, frame.nbytes))
            block = pending.block = np.empty((capacity, *pending.frame_shape), pending.dtype)
        index = pending.length + pending.count
        block[pending.count] = frame
        pending.count += 1
        if pending.count == len(block):
            self._start_write(path, pending)  # in the background: frames keep coming
        return index, pending.codec

    def _start_write(self, path: str, pending: _Pending) -> None:
        """Hand the block's frames to the background write; the spare block takes over."""
        n = pending.count
        if not n:
            return
        self._wait(path, pending)  # one write per array at a time, in order
        assert pending.block is not None
        block, start = pending.block, pending.length
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="resonance-frames")
        pending.writing = self._writer.submit(self._write_block, pending.array, start, block[:n])
        pending.length += n
        pending.count = 0
        if pending.spare is None:
            pending.spare = np.empty_like(block)
        pending.block, pending.spare = pending.spare, block

    def _write_block(self, array: zarr.Array, start: int, frames: np.ndarray) -> None:
        array.resize((start + len(frames), *frames.shape[1:]))
        array[start:start + len(frames)] = frames

    def _wait(self, path: str, pending: _Pending) -> None:
        writing, pending.writing = pending.writing, None
        if writing is None:
            return
        try:
            writing.result()
        except OSError as exc:
            raise StorageError(f"cannot write frames to {path} in {self._location}: {exc}") from exc

    def _write(self, path: str, pending: _Pending) -> None:
        self._start_write(path, pending)
        self._wait(path, pending)

    def flush(self) -> None:
        """Write every queued frame to the store, and wait until it is written."""
        for path, pending in self._arrays.items():
            self._start_write(path, pending)
        for path, pending in self._arrays.items():
            self._wait(path, pending)

    def frame_layout(self, path: str) -> tuple[tuple[int, ...], np.dtype] | None:
        """Return ``(frame shape, dtype)`` of the array at ``path``, or None if there is none."""
        pending = self._arrays.get(path)
        if pending is not None:
            return pending.array.shape[1:], pending.array.dtype
        if path not in self._group:
            return None
        array = self._group[path]
        return array.shape[1:], array.dtype

    def pending_frames(self) -> int:
        """Return how many frames are queued and not yet written."""
        return sum(p.count for p in self._arrays.values())

    def forget(self, prefix: str) -> None:
        """Flush and drop cached arrays whose path starts with ``prefix`` (a finished run)."""
        for path in [p for p in self._arrays if p.startswith(prefix)]:
            self._write(path, self._arrays[path])
            del self._arrays[path]

    def close(self) -> None:
        """Stop the background writer once its writes end (``flush()`` first to write all)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def read(self, path: str, index: int) -> np.ndarray:
        """Return frame ``index`` of the array at ``path`` (flushed frames only)."""
        return np.asarray(self._group[path][index])
