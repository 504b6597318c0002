"""Lines of a text stream, and json-seq records across lines, each bounded in size."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import NamedTuple

from resonance_callback.errors import ReplayError
from resonance_callback.replay.formats._common import (
    _BOM,
    _CHUNK,
    _EXCERPT,
    _RS,
    _WHITESPACE,
    _ReadError,
)


class _Record(NamedTuple):
    """A line (or json-seq record): where it starts, its bytes and its size."""

    number: int  # the line it starts on
    offset: int  # byte offset of its first byte in the (decompressed) stream
    data: bytes  # its bytes; only the first ones when too long
    size: int  # its size in bytes
    too_long: bool = False  # over the limit: skipped, never held whole


class _Cursor:
    """Where the line reader is: lines and bytes read (to place damage that ends a file)."""

    def __init__(self) -> None:
        self.number = 0
        self.offset = 0


def _readline(label: str, number: int, reader: io.BufferedReader, size: int) -> bytes:
    try:
        return reader.readline(size)
    except _ReadError as exc:
        raise ReplayError(f"{label} line {number}: {exc}") from exc


def _lines(label: str, reader: io.BufferedReader, limit: int,
           cursor: _Cursor) -> Iterator[_Record]:
    """Yield the lines of the stream; one over ``limit`` bytes (newline included) by its size.

    A line is read a piece of at most :data:`_CHUNK` bytes at a time, so one
    over the limit is never held beyond ``limit`` plus one piece.
    """
    readline = reader.readline
    while True:
        try:  # _readline, inline: once per line
            line = readline(_CHUNK)
        except _ReadError as exc:
            raise ReplayError(f"{label} line {cursor.number + 1}: {exc}") from exc
        if not line:
            return
        cursor.number += 1
        number, offset, size = cursor.number, cursor.offset, len(line)
        if size == _CHUNK and not line.endswith(b"\n"):  # a long line: the rest, piece by piece
            parts: list[bytes] | None = [line]
            while part := _readline(label, number, reader, _CHUNK):
                size += len(part)
                if parts is not None and size > limit:
                    parts = None  # over the limit: from here on only counted
                elif parts is not None:
                    parts.append(part)
                if part.endswith(b"\n"):
                    break
            head = line[:_EXCERPT]
            line = b"".join(parts) if parts is not None else b""
            if parts is None:
                cursor.offset += size
                yield _Record(number, offset, head, size, too_long=True)
                continue
        elif size > limit:
            cursor.offset += size
            yield _Record(number, offset, line[:_EXCERPT], size, too_long=True)
            continue
        cursor.offset += size
        if number == 1 and line.startswith(_BOM):
            line, offset, size = line[len(_BOM):], offset + len(_BOM), size - len(_BOM)
        yield _Record(number, offset, line, size)


class _Joiner:
    """The json-seq record being read: its parts, or only its size once over the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.active = False
        self.number = self.offset = self.size = 0
        self.too_long = False

    def begin(self, number: int, offset: int) -> None:
        self.parts, self.active, self.too_long = [], True, False
        self.number, self.offset, self.size = number, offset, 0

    def add(self, data: bytes, size: int, too_long: bool = False) -> None:
        self.size += size
        if not self.too_long and not too_long and self.size <= self.limit:
            self.parts.append(data)
            return
        if not self.too_long:
            self.parts = [(b"".join(self.parts) + data[:_EXCERPT])[:_EXCERPT]]
        self.too_long = True

    def take(self) -> _Record:
        data = b"".join(self.parts)
        self.parts, self.active = [], False
        return _Record(self.number, self.offset, data, self.size, self.too_long)


def _separated_records(lines: Iterator[_Record], limit: int) -> Iterator[_Record]:
    """Join RFC 7464 records: each starts at a record separator and may span lines.

    A record over ``limit`` bytes is kept by its size and first bytes only.
    """
    record = _Joiner(limit)
    try:
        for line in lines:
            if line.too_long:  # skipped unread: it starts a record if it starts with one
                if not record.active or line.data.lstrip(_WHITESPACE).startswith(_RS):
                    if record.active:
                        yield record.take()
                    record.begin(line.number, line.offset)
                record.add(line.data, line.size, too_long=True)
                continue
            pieces = line.data.split(_RS)
            at = line.offset
            if record.active or pieces[0].strip(_WHITESPACE):
                if not record.active:
                    record.begin(line.number, at)
                record.add(pieces[0], len(pieces[0]))
            at += len(pieces[0])
            for piece in pieces[1:]:
                if record.active:
                    yield record.take()
                record.begin(line.number, at + 1)
                record.add(piece, len(piece))
                at += 1 + len(piece)
    except ReplayError:
        # The stream broke while looking for the end of this record: it is
        # complete if it parses, and the documents before the damage count.
        if record.active:
            yield record.take()
        raise
    if record.active:
        yield record.take()
