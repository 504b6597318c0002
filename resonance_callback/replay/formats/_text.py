"""Text formats: JSON lines (pairs or objects), json-seq, and JSON arrays."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import orjson

from resonance_callback.errors import ReplayError
from resonance_callback.jsoncodec import may_hold_long_integer
from resonance_callback.replay.formats._common import (
    _BOM,
    _CHUNK,
    _CUT_ARRAY,
    _CUT_JSON,
    _EXCERPT,
    _TEXT_WHITESPACE,
    _WHITESPACE,
    DEFAULT_MAX_RECORD_BYTES,
    Damaged,
    Located,
    _as_pair,
    _damaged,
    _decode_utf8,
    _ReadError,
    _unterminated,
)
from resonance_callback.replay.formats._lines import _Cursor, _lines, _separated_records

# -- line-based text: jsonl-pairs, jsonl-objects, json-seq ---------------------


def _read_text(label: str, reader: io.BufferedReader, separated: bool,
               limit: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[Located | Damaged]:
    """Yield each record's document, or what is damaged about it, and go on with the next.

    Damage that leaves no next record to find (the compressed data is corrupt
    or cut, a read fails) is the last item, with ``rest_lost``.
    """
    cursor = _Cursor()
    lines = _lines(label, reader, limit, cursor)
    records = _separated_records(lines, limit) if separated else lines
    while True:
        try:
            record = next(records, None)
        except ReplayError as exc:
            yield _damaged(exc, label, cursor.number + 1, cursor.offset, None, rest_lost=True)
            return
        if record is None:
            return
        number = record.number
        if record.too_long:
            what = "record" if separated else "line"
            too_long = ReplayError(
                f"{label} line {number}: {what} of {record.size} bytes is longer than the "
                f"limit of {limit} bytes (max_record_bytes); skipped")
            yield _damaged(too_long, label, number, record.offset, record.size, record.data)
            continue
        if not record.data.strip(_WHITESPACE):
            continue
        try:
            value = _parse_record(label, number, record.data)
            if (type(value) is list and len(value) == 2 and type(value[0]) is str
                    and type(value[1]) is dict):  # the usual [name, doc]: checked here
                name, doc = value
            else:
                name, doc = _as_pair(value, f"{label} line {number}")
        except ReplayError as exc:
            yield _damaged(exc, label, number, record.offset, record.size, record.data)
            continue
        yield Located(name, doc, label, number)


def _parse_record(label: str, number: int, data: bytes) -> Any:
    # orjson first (3-5x faster than json). It reads integers beyond 64 bits as floats,
    # so a record with a run of 19 digits takes the json path; so does what orjson
    # refuses (NaN and Infinity literals, lone surrogates, deep nesting, bad UTF-8),
    # with json's messages for what is really broken.
    if not may_hold_long_integer(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    text = _decode_utf8(data, label, number)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # Only the last line of a file can lack its newline: a cut file.
        cut = " (truncated file?)" if not data.endswith(b"\n") else ""
        if _unterminated(exc):
            raise ReplayError(f"{label} line {number}: unterminated JSON{cut}") from exc
        where = f"{label} line {number + exc.lineno - 1}"
        raise ReplayError(f"{where}: invalid JSON ({exc.msg}, column {exc.colno}){cut}") from exc
    except (ValueError, RecursionError) as exc:
        raise ReplayError(f"{label} line {number}: cannot decode JSON ({exc})") from exc


# -- json-array ------------------------------------------------------------------


class _LineCounter:
    """Line numbers of increasing positions in a text, counted incrementally."""

    def __init__(self, text: str):
        self._text, self._pos, self._line = text, 0, 1

    def __call__(self, pos: int) -> int:
        self._line += self._text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line


def _skip_whitespace(text: str, pos: int) -> int:
    """The position of the first non-whitespace character at or after ``pos``."""
    match = _TEXT_WHITESPACE.match(text, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _read_all(reader: io.BufferedReader) -> tuple[bytes, _ReadError | None]:
    chunks = []
    try:
        while chunk := reader.read1(_CHUNK):
            chunks.append(chunk)
    except _ReadError as exc:
        return b"".join(chunks), exc
    return b"".join(chunks), None


def _read_array(label: str, reader: io.BufferedReader) -> Iterator[Located | Damaged]:
    """Yield the array's documents; an element that is no pair is damaged alone.

    JSON that does not decode leaves no element boundary to find: it is the
    last item, with ``rest_lost``.
    """
    data, broken = _read_all(reader)
    bom = len(_BOM) if data.startswith(_BOM) else 0
    text, ending = _text_until_damage(data[bom:], broken)
    del data
    line_at, byte_at = _LineCounter(text), _ByteCounter(text, bom)
    decoder = json.JSONDecoder()
    pos = _skip_whitespace(text, 0) + 1  # past the "[" that detection saw
    expect_value, first, line = True, True, 1
    try:
        while True:
            pos = _skip_whitespace(text, pos)
            line = line_at(pos)
            where = f"{label} line {line}"
            if pos == len(text):
                raise ReplayError(f"{where}: {ending or _CUT_ARRAY}")
            if text[pos] == "]" and (first or not expect_value):
                break
            if expect_value:
                value, end = _decode_element(decoder, text, pos, label, line, ending)
                try:
                    yield Located(*_as_pair(value, where), label, line)
                except ReplayError as exc:
                    start = byte_at(pos)
                    yield _damaged(exc, label, line, start, byte_at(end) - start,
                                   text[pos:pos + _EXCERPT].encode())
                pos, expect_value, first = end, False, False
            elif text[pos] == ",":
                pos, expect_value = pos + 1, True
            else:
                raise ReplayError(f"{where}: invalid JSON array (expected ',' or ']')")
        _check_array_end(label, text, pos + 1, line_at)
    except ReplayError as exc:
        yield _damaged(exc, label, line, byte_at(pos), None, text[pos:pos + _EXCERPT].encode(),
                       rest_lost=True)


class _ByteCounter:
    """UTF-8 byte offsets of increasing positions in a text, counted incrementally."""

    def __init__(self, text: str, start: int = 0):
        self._text, self._pos, self._bytes, self._start = text, 0, start, start

    def __call__(self, pos: int) -> int:
        if pos < self._pos:
            self._pos, self._bytes = 0, self._start
        self._bytes += len(self._text[self._pos:pos].encode("utf-8", "surrogatepass"))
        self._pos = pos
        return self._bytes


def _text_until_damage(data: bytes, broken: _ReadError | None) -> tuple[str, str | None]:
    """Decode as much UTF-8 as is sound; say why the text ends early, if it does."""
    try:
        return data.decode("utf-8"), None if broken is None else str(broken)
    except UnicodeDecodeError as exc:
        text = data[: exc.start].decode("utf-8")
        if exc.end < len(data):
            line = data.count(b"\n", 0, exc.start) + 1
            return text, f"not UTF-8 text (line {line}, byte {exc.start + 1} of the file)"
        return text, _CUT_JSON if broken is None else str(broken)


def _decode_element(
    decoder: json.JSONDecoder, text: str, pos: int, label: str, line: int, ending: str | None
) -> tuple[Any, int]:
    try:
        return decoder.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        if _unterminated(exc):
            raise ReplayError(f"{label} line {line}: {ending or _CUT_JSON}") from exc
        raise ReplayError(
            f"{label} line {exc.lineno}: invalid JSON ({exc.msg}, column {exc.colno})"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise ReplayError(f"{label} line {line}: cannot decode JSON ({exc})") from exc


def _check_array_end(label: str, text: str, pos: int, line_at: _LineCounter) -> None:
    pos = _skip_whitespace(text, pos)
    if pos < len(text):
        raise ReplayError(f"{label} line {line_at(pos)}: unexpected data after the closing ']'")


