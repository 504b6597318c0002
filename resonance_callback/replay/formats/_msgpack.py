"""suitcase-msgpack streams, numpy arrays decoded from msgpack-numpy maps."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Generator, Iterator
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

#: Names a record's ``[name, doc]`` array or ``{"name": ..., "doc": ...}`` map starts with.
_NAMES = ("start", "descriptor", "event", "event_page", "stop", "resource", "datum",
          "datum_page", "stream_resource", "stream_datum", "bulk_events", "bulk_datum")


def _read_msgpack(label: str, reader: io.BufferedReader,
                  limit: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[Located | Damaged]:
    """Yield the stream's documents; damage costs the bytes up to the next record.

    msgpack has no record separator. After bytes that do not decode (or a
    record over ``limit`` bytes) reading resumes at the next place where a
    record visibly starts: a two-item array or map whose first item is a
    document name (``92 a5 "start"``, ``82 a4 "name" a5 "start"``, ...). The
    damage is reported from the byte where its record started to there; with
    no such place left, to the end of the file (``rest_lost``).
    """
    msgpack = _import_msgpack(label)
    starts = _record_starts(msgpack)
    stream = _Segment(msgpack, label, reader, limit)
    while True:
        damage = yield from stream.read()
        if damage is None:
            return
        exc, start, pending = damage
        found, head, end = _resync(reader, pending, start, starts)
        stream.record += 1
        yield _damaged(exc, label, stream.record, start, end - start, pending[:_EXCERPT],
                       unit="record", rest_lost=found is None)
        if found is None:
            return
        stream.restart(found, head)


class _Segment:
    """Records decoded from one place of the stream on, until the end or damage."""

    def __init__(self, msgpack: Any, label: str, reader: io.BufferedReader, limit: int):
        self.msgpack, self.label, self.reader, self.limit = msgpack, label, reader, limit
        self.record = 0
        self.restart(0, b"")

    def restart(self, base: int, head: bytes) -> None:
        """Decode afresh from stream offset ``base``, whose first bytes are ``head``."""
        self.base, self.head = base, head
        self.unpacker = self.msgpack.Unpacker(
            raw=False, strict_map_key=False, max_buffer_size=self.limit + _CHUNK,
            object_hook=_numpy_hook)

    def read(self) -> Generator[Located | Damaged, None, tuple[ReplayError, int, bytes] | None]:
        """Yield records; return None at the end, or the damage, where it starts, its bytes."""
        msgpack, label, unpacker = self.msgpack, self.label, self.unpacker
        start = fed = self.base  # the record being read starts at ``start``
        pending, kept = b"", start  # bytes fed from offset ``kept`` on (``start`` is in them)
        chunk, broken = self.head, None
        while True:
            where = f"{label} record {self.record + 1} (byte {start})"
            try:
                if chunk:
                    pending, fed = pending + chunk, fed + len(chunk)
                    _unpacking(msgpack, where, self.limit, unpacker.feed, chunk)
                while (value := _unpacking(msgpack, where, self.limit, next, unpacker,
                                           _END)) is not _END:
                    self.record += 1
                    end = self.base + unpacker.tell()
                    yield _record(value, where, label, self.record, start, end)
                    start, where = end, f"{label} record {self.record + 1} (byte {end})"
                pending, kept = pending[start - kept:], start
                if fed - start > self.limit:  # the record being read is over the limit
                    raise ReplayError(f"{where}: {_too_long(self.limit)}")
                if broken is not None:
                    raise ReplayError(f"{where}: {broken}")
                chunk, broken = _read_chunk(self.reader)
                if not chunk and broken is None:
                    if fed > start:
                        raise ReplayError(f"{where}: incomplete msgpack record (truncated file?)")
                    return None
            except ReplayError as exc:
                return exc, start, pending[start - kept:]


def _record(value: Any, where: str, label: str, record: int, start: int,
            end: int) -> Located | Damaged:
    try:
        return Located(*_as_pair(value, where), label, record, "record")
    except ReplayError as exc:
        return _damaged(exc, label, record, start, end - start, repr(value)[:_EXCERPT].encode(),
                        unit="record")


def _record_starts(msgpack: Any) -> re.Pattern[bytes]:
    """The bytes a record of each document name starts with, in either shape."""
    heads = [b"\x92" + msgpack.packb(name) for name in _NAMES]
    heads += [b"\x82" + msgpack.packb("name") + msgpack.packb(name) for name in _NAMES]
    return re.compile(b"|".join(re.escape(head) for head in heads))


def _resync(reader: io.BufferedReader, pending: bytes, start: int,
            starts: re.Pattern[bytes]) -> tuple[int | None, bytes, int]:
    """Find the next record start after ``start``: its offset, the bytes from it, and it.

    Reads on a chunk at a time, holding only a chunk and a few bytes. With no
    record start left, returns None, nothing, and the offset of the stream's end.
    """
    keep = 64  # longer than every record head
    data, at = pending[1:], start + 1  # ``data`` holds the stream from offset ``at``
    while True:
        match = starts.search(data)
        if match is not None:
            return at + match.start(), data[match.start():], at + match.start()
        tail = data[-keep:]
        at += len(data) - len(tail)
        chunk, _ = _read_chunk(reader)  # a read failure ends the search as the end does
        if not chunk:
            return None, b"", at + len(tail)
        data = tail + chunk


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


def _numpy_dtype(descr: Any) -> np.dtype[Any]:
    dtype: np.dtype[Any]
    if isinstance(descr, list):  # a structured dtype: [name, type, *shape] fields
        dtype = np.dtype([_numpy_field(field) for field in descr])
    else:
        dtype = np.dtype(descr)
    return dtype


def _numpy_field(field: list[Any]) -> tuple[Any, ...]:
    name, dtype, *shape = field
    return (name, _numpy_dtype(dtype), *(tuple(s) if isinstance(s, list) else s for s in shape))

