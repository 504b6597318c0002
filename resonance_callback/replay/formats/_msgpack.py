"""suitcase-msgpack streams, numpy arrays decoded from msgpack-numpy maps."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from resonance_callback.errors import ReplayError
from resonance_callback.replay.formats._common import (
    _CHUNK,
    _EXCERPT,
    DEFAULT_MAX_RECORD_BYTES,
    Damaged,
    Located,
    _as_pair,
    _damaged,
    _ReadError,
)

# -- msgpack -------------------------------------------------------------------


def _read_msgpack(label: str, reader: io.BufferedReader,
                  limit: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[Located | Damaged]:
    """Yield the stream's documents; a record that is no pair is damaged alone.

    msgpack has no record separator to resynchronise on: bytes that do not
    decode, a record over ``limit`` bytes or a cut stream are the last item,
    with ``rest_lost`` and the byte offset of the record they hit.
    """
    msgpack = _import_msgpack(label)
    unpacker = msgpack.Unpacker(
        raw=False, strict_map_key=False, max_buffer_size=limit + _CHUNK, object_hook=_numpy_hook
    )
    fed = record = start = 0
    where = f"{label} record 1 (byte 0)"
    try:
        while True:
            chunk, broken = _read_chunk(reader)
            _unpacking(msgpack, where, limit, unpacker.feed, chunk)
            fed += len(chunk)
            while (value := _unpacking(msgpack, where, limit, next, unpacker, _END)) is not _END:
                record += 1
                end = unpacker.tell()
                try:
                    yield Located(*_as_pair(value, where), label, record, "record")
                except ReplayError as exc:
                    yield _damaged(exc, label, record, start, end - start,
                                   repr(value)[:_EXCERPT].encode(), unit="record")
                start = end
                where = f"{label} record {record + 1} (byte {start})"
            if fed - start > limit:  # the record being read is over the limit already
                raise ReplayError(f"{where}: {_too_long(limit)}")
            if broken is not None:
                raise ReplayError(f"{where}: {broken}")
            if not chunk:
                break
        if unpacker.tell() < fed:
            raise ReplayError(f"{where}: incomplete msgpack record (truncated file?)")
    except ReplayError as exc:
        yield _damaged(exc, label, record + 1, start, None, unit="record", rest_lost=True)


def _too_long(limit: int) -> str:
    return f"record longer than the limit of {limit} bytes (max_record_bytes)"


_END = object()  # no complete msgpack value buffered


def _unpacking(msgpack: Any, where: str, limit: int, call: Callable[..., Any],
               *args: Any) -> Any:
    """Call ``call(*args)``, turning msgpack decoding errors into ReplayError."""
    try:
        return call(*args)
    except msgpack.BufferFull as exc:
        raise ReplayError(f"{where}: {_too_long(limit)}") from exc
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ReplayError(f"{where}: invalid msgpack ({exc})") from exc


def _import_msgpack(label: str) -> Any:
    try:
        import msgpack
    except ImportError as exc:  # pragma: no cover - msgpack is installed with the tests
        raise ReplayError(
            f"{label}: this is a msgpack stream; install the 'msgpack' package to read it"
        ) from exc
    return msgpack


def _read_chunk(reader: io.BufferedReader) -> tuple[bytes, _ReadError | None]:
    try:
        return reader.read1(_CHUNK), None
    except _ReadError as exc:
        return b"", exc


def _numpy_hook(obj: dict[Any, Any]) -> Any:
    """Decode the maps msgpack-numpy writes for numpy values; pass others through."""
    tag = obj.get(b"nd")
    if tag is True and {b"type", b"shape", b"data"} <= obj.keys():
        return _numpy_array(obj)
    if tag is False and {b"type", b"data"} <= obj.keys():
        return np.frombuffer(obj[b"data"], dtype=_numpy_dtype(obj[b"type"]))[0]
    if obj.get(b"complex") is True and isinstance(obj.get(b"data"), str | bytes):
        data = obj[b"data"]
        return complex(data.decode() if isinstance(data, bytes) else data)
    return obj


def _numpy_array(obj: dict[Any, Any]) -> np.ndarray:
    if obj.get(b"kind") == b"O":
        raise ValueError("an object-dtype numpy array is pickled; refusing to unpickle it")
    dtype = _numpy_dtype(obj[b"type"])
    return np.frombuffer(obj[b"data"], dtype=dtype).reshape(obj[b"shape"]).copy()


def _numpy_dtype(descr: Any) -> np.dtype:
    if isinstance(descr, list):  # a structured dtype: [name, type, *shape] fields
        return np.dtype([_numpy_field(field) for field in descr])
    return np.dtype(descr)


def _numpy_field(field: list[Any]) -> tuple[Any, ...]:
    name, dtype, *shape = field
    return (name, _numpy_dtype(dtype), *(tuple(s) if isinstance(s, list) else s for s in shape))

