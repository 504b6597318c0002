"""Recognise a stream's format from its first bytes, without consuming them."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable
from typing import Any, BinaryIO, NamedTuple

from resonance_callback.errors import ReplayError
from resonance_callback.replay.formats._common import (
    _BOM,
    _BUFFER,
    _CUT_JSON,
    _FOREIGN_MAGIC,
    _GZIP_MAGIC,
    _HEAD_LIMIT,
    _HEAD_STEP,
    _MSGPACK_PAIRS,
    _MSGPACK_STRINGS,
    _RS,
    _STEP,
    _WHITESPACE,
    _ReadError,
    _reason,
)


class _Rewound(io.RawIOBase):
    """A raw stream serving ``head`` first, then the rest of ``inner``.

    Read failures of ``inner`` become :class:`_ReadError`; ``pending`` is a
    failure met while the head was read, raised once the head is served.
    """

    def __init__(
        self,
        inner: BinaryIO | io.RawIOBase | gzip.GzipFile,
        head: bytes = b"",
        pending: _ReadError | None = None,
    ) -> None:
        super().__init__()
        # read1 reads at most once from below, so no data already decompressed
        # is lost when a later read fails.
        self._read: Callable[[int], bytes | None] = getattr(inner, "read1", inner.read)
        self._head = memoryview(head)
        self._pending = pending

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # Any: a writable buffer; the typed one has no len()
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        if self._pending is not None:
            raise self._pending
        data = _guarded_read(self._read, min(len(buffer), _STEP)) or b""
        buffer[: len(data)] = data
        return len(data)


def _guarded_read(read: Callable[[int], bytes | None], size: int) -> bytes | None:
    try:
        return read(size)
    except EOFError as exc:
        raise _ReadError("gzip data ends early (truncated file?)") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise _ReadError(f"corrupt gzip data ({exc})") from exc
    except OSError as exc:
        raise _ReadError(f"read error ({_reason(exc)})") from exc


class _Head(NamedTuple):
    data: bytes
    ended: bool  # the stream ended within the head
    broken: _ReadError | None


def _decidable(head: bytes | bytearray) -> bool:
    text = head.removeprefix(_BOM).lstrip(_WHITESPACE)
    if len(text) < 2:
        return False
    return not text.startswith(b"[") or bool(text[1:].lstrip(_WHITESPACE))


def _read_head(stream: io.RawIOBase) -> _Head:
    head = bytearray()
    try:
        while len(head) < _HEAD_LIMIT and not _decidable(head):
            chunk = stream.read(min(_HEAD_STEP, _HEAD_LIMIT - len(head)))
            if not chunk:
                return _Head(bytes(head), True, None)
            head += chunk
    except _ReadError as exc:
        return _Head(bytes(head), True, exc)
    return _Head(bytes(head), False, None)


def _probe(label: str, raw: BinaryIO) -> tuple[str, io.BufferedReader]:
    """Recognise the stream; return its format name and a reader from its start."""
    outer = _Rewound(raw)
    head = _read_head(outer)
    suffix = ""
    if head.data.startswith(_GZIP_MAGIC):
        unzipped = gzip.GzipFile(fileobj=_Rewound(outer, head.data, head.broken), mode="rb")
        outer, suffix = _Rewound(unzipped), "+gzip"
        head = _read_head(outer)
    name = _classify(head)
    if name is None:
        if head.broken is not None:
            raise ReplayError(f"{label} line 1: {head.broken}")
        if head.ended and head.data.removeprefix(_BOM).strip(_WHITESPACE) == b"[":
            raise ReplayError(f"{label} line 1: {_CUT_JSON}")
        raise ReplayError(f"{label}: not a Bluesky document stream ({_seen(head.data)})")
    reader: io.BufferedReader = io.BufferedReader(
        _Rewound(outer, head.data, head.broken), buffer_size=_BUFFER
    )
    return name + suffix, reader


def _classify(head: _Head) -> str | None:
    data = head.data
    if len(data) >= 2 and data[0] in _MSGPACK_PAIRS and data[1] in _MSGPACK_STRINGS:
        return "msgpack"
    text = data.removeprefix(_BOM).lstrip(_WHITESPACE)
    if not text:
        return "empty" if head.ended and head.broken is None else None
    first, after = text[:1], text[1:].lstrip(_WHITESPACE)[:1]
    if first == _RS:
        return "json-seq"
    if first == b"{":
        return "jsonl-objects"
    if first == b"[" and after == b'"':
        return "jsonl-pairs"
    if first == b"[" and after in (b"[", b"{", b"]"):
        return "json-array"
    return None


def _seen(head: bytes) -> str:
    for magic, what in _FOREIGN_MAGIC.items():
        if head.startswith(magic):
            return f"it is {what}"
    text = head.removeprefix(_BOM).lstrip(_WHITESPACE)
    if not text:
        return f"only whitespace in the first {len(head)} bytes"
    return f"it starts with {text[:32]!r}"


