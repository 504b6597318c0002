"""Text formats: JSON lines (pairs or objects), json-seq, and JSON arrays."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import orjson

from resonance_callback.errors import ReplayError
from resonance_callback.replay.formats._common import (
    _BOM,
    _CHUNK,
    _CUT_ARRAY,
    _CUT_JSON,
    _RS,
    _TEXT_WHITESPACE,
    _WHITESPACE,
    Located,
    _as_pair,
    _decode_utf8,
    _ReadError,
    _unterminated,
)

#: An integer token of 19 digits or more (orjson reads those beyond 64 bits as floats):
#: not the fraction of a float (``0.0070162316995941755`` has a run of 19 digits too).
_LONG_INTEGER = re.compile(rb"(?<![0-9.])[0-9]{19,}(?![0-9.eE])")

#: Every digit to ``0``, every other byte to a space: ``_RUN_OF_19 in data.translate(...)``
#: finds a run of 19 digits ~5x faster than the regular expression, which then looks only
#: at the few records that have one.
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_RUN_OF_19 = b"0" * 19

# -- line-based text: jsonl-pairs, jsonl-objects, json-seq ---------------------


def _lines(label: str, reader: io.BufferedReader) -> Iterator[tuple[int, bytes]]:
    number = 0
    while True:
        try:
            line = reader.readline()
        except _ReadError as exc:
            raise ReplayError(f"{label} line {number + 1}: {exc}") from exc
        if not line:
            return
        number += 1
        yield number, line.removeprefix(_BOM) if number == 1 else line


def _separated_records(lines: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    """Join RFC 7464 records: each starts at a record separator and may span lines."""
    start, parts = 0, list[bytes]()
    try:
        for number, line in lines:
            pieces = line.split(_RS)
            if parts or pieces[0].strip(_WHITESPACE):
                start = start if parts else number
                parts.append(pieces[0])
            for piece in pieces[1:]:
                if parts:
                    yield start, b"".join(parts)
                start, parts = number, [piece]
    except ReplayError:
        # The stream broke while looking for the end of this record: it is
        # complete if it parses, and the documents before the damage count.
        if parts:
            yield start, b"".join(parts)
        raise
    if parts:
        yield start, b"".join(parts)


def _read_text(label: str, reader: io.BufferedReader, separated: bool) -> Iterator[Located]:
    lines = _lines(label, reader)
    records = _separated_records(lines) if separated else lines
    for number, data in records:
        if not data.strip(_WHITESPACE):
            continue
        value = _parse_record(label, number, data)
        yield Located(*_as_pair(value, f"{label} line {number}"), label, number)


def _parse_record(label: str, number: int, data: bytes) -> Any:
    # orjson first (3-5x faster than json). It reads integers beyond 64 bits as floats,
    # so a record with a run of 19 digits takes the json path; so does what orjson
    # refuses (NaN and Infinity literals, lone surrogates, deep nesting, bad UTF-8),
    # with json's messages for what is really broken.
    if _RUN_OF_19 not in data.translate(_DIGITS_TO_ZERO) or not _LONG_INTEGER.search(data):
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


def _read_array(label: str, reader: io.BufferedReader) -> Iterator[Located]:
    data, broken = _read_all(reader)
    text, ending = _text_until_damage(data.removeprefix(_BOM), broken)
    line_at = _LineCounter(text)
    decoder = json.JSONDecoder()
    pos = _skip_whitespace(text, 0) + 1  # past the "[" that detection saw
    expect_value, first = True, True
    while True:
        pos = _skip_whitespace(text, pos)
        line = line_at(pos)
        where = f"{label} line {line}"
        if pos == len(text):
            raise ReplayError(f"{where}: {ending or _CUT_ARRAY}")
        if text[pos] == "]" and (first or not expect_value):
            break
        if expect_value:
            value, pos = _decode_element(decoder, text, pos, label, line, ending)
            yield Located(*_as_pair(value, where), label, line)
            expect_value, first = False, False
        elif text[pos] == ",":
            pos, expect_value = pos + 1, True
        else:
            raise ReplayError(f"{where}: invalid JSON array (expected ',' or ']')")
    _check_array_end(label, text, pos + 1, line_at)


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


