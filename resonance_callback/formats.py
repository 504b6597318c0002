r"""Read saved Bluesky document streams, whatever shape the writer gave them.

The format is detected from the content, never from the file name. These
formats are read:

``jsonl-pairs``
    One JSON ``[name, doc]`` array per line, as written by suitcase-jsonl
    (and by the early databroker server's ``application/json`` export).
``jsonl-objects``
    One JSON ``{"name": ..., "doc": ...}`` object per line, as written by
    bluesky's ``JSONLinesWriter`` and by the databroker / Tiled
    ``application/json-seq`` export, which does not use the RFC 7464 record
    separator.
``json-seq``
    RFC 7464 JSON text sequences: each record starts with the ``\x1e`` record
    separator and may span several lines (pretty-printed JSON).
``json-array``
    One JSON array of ``{"name", "doc"}`` objects (bluesky's ``JSONWriter``) or
    of ``[name, doc]`` pairs. This format is decoded from memory: the whole
    file is loaded first.
``msgpack``
    A concatenation of msgpack ``[name, doc]`` arrays (suitcase-msgpack) or
    ``{"name", "doc"}`` maps (the databroker / Tiled ``application/x-msgpack``
    export). numpy values encoded by msgpack-numpy (maps tagged ``b"nd"`` or
    ``b"complex"``) are decoded back to numpy arrays, numpy scalars and
    complex numbers. Reading needs the ``msgpack`` package.

Each may be gzip-compressed (detected by the gzip magic bytes ``1f 8b``);
:func:`detect_format` then names it with a ``+gzip`` suffix.

Detection rules, applied to the first bytes of the (decompressed) stream:

* bytes ``0x92`` or ``0x82`` (a msgpack array or map of two items) followed
  by a msgpack string header: ``msgpack``;
* otherwise, after an optional UTF-8 byte order mark and whitespace:
  ``\x1e`` is ``json-seq``; ``{`` is ``jsonl-objects``; ``[`` followed by a
  string is ``jsonl-pairs``; ``[`` followed by ``[``, ``{`` or ``]`` is
  ``json-array``;
* no bytes at all, or whitespace only, is ``empty``: it yields nothing.

Every record must be a pair of a string name and a dict document, in either
shape: ``[name, doc]`` or an object with ``name`` and ``doc`` members (other
members are ignored). Both shapes are accepted in every format, so files
concatenated from different writers are read. Documents are yielded in file
order and not otherwise interpreted: several runs, interleaved runs, events,
event pages, datum pages and any document name pass through as written.
Non-standard ``NaN``, ``Infinity`` and ``-Infinity`` JSON tokens are read as
floats, and integers keep all their digits.

When a file is truncated or corrupt, every document before the damage is
yielded, then :class:`~resonance_callback.errors.ReplayError` is raised with
a message naming the file and the line (text formats) or record (msgpack)
where the damage is, for example ``run.jsonl line 42: unterminated JSON
(truncated file?)``. A file cut inside a record is reported as truncated at
the line where that record starts. Gzip data that is corrupt rather than cut
short is different: deflate may decode damaged bytes to wrong text that only
the checksum at the end of the gzip member exposes, so documents decoded
from just before the damage can be wrong (they usually fail to parse first),
and up to 64 KiB decoded before zlib notices the damage can be lost.

Line-based formats and msgpack are streamed, holding one record at a time;
the JSON array format holds the whole (decompressed) file in memory.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from .errors import ReplayError

__all__ = [
    "FORMATS",
    "Located",
    "Source",
    "detect_format",
    "iter_documents",
    "iter_located",
    "stream_files",
]

FORMATS = ("jsonl-pairs", "jsonl-objects", "json-seq", "json-array", "msgpack", "empty")
"""The base format names :func:`detect_format` returns (each may carry ``+gzip``)."""

Source = str | os.PathLike[str] | BinaryIO
"""A file path, a directory path, ``"-"`` for standard input, or a binary file object."""

_HEAD_LIMIT = 64 * 1024  # give up recognising a stream after this many bytes
_HEAD_STEP = 4 * 1024  # read size while recognising
_STEP = 64 * 1024  # largest single read from below (bounds what corrupt gzip data loses)
_CHUNK = 1024 * 1024  # read size for msgpack and JSON arrays
_BUFFER = 64 * 1024  # buffer of the line reader
_MSGPACK_MAX = 2**32 - 1  # largest msgpack record accepted (bytes)

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_RS = b"\x1e"
_WHITESPACE = b" \t\r\n"
_TEXT_WHITESPACE = re.compile(r"[ \t\r\n]*")
_STRUCTURE = re.compile(r'[\s,:\[\]{}"]')  # characters that end a JSON token
_MSGPACK_PAIRS = frozenset({0x92, 0x82})  # fixarray or fixmap of 2 items
_MSGPACK_STRINGS = frozenset(range(0xA0, 0xC0)) | {0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6}
_FOREIGN_MAGIC = {
    b"BZh": "bzip2-compressed data (decompress it first)",
    b"\xfd7zXZ\x00": "xz-compressed data (decompress it first)",
    b"\x28\xb5\x2f\xfd": "zstd-compressed data (decompress it first)",
    b"PK\x03\x04": "a zip archive (extract it first)",
    b"\x89HDF\r\n\x1a\n": "an HDF5 file",
    b"SQLite format 3\x00": "an SQLite database",
}
_SHAPES = 'a [name, doc] pair or a {"name": ..., "doc": ...} object'
_CUT_JSON = "unterminated JSON (truncated file?)"
_CUT_ARRAY = "unterminated JSON array, no closing ']' (truncated file?)"


class Located(NamedTuple):
    """A document together with where it was read from.

    Attributes
    ----------
    name : str
        The document name (``"start"``, ``"event"``, ...).
    doc : dict
        The document.
    path : str
        The file it came from as given (``"<stdin>"`` for standard input,
        the ``name`` of a file object, or ``"<stream>"``).
    line : int
        1-based number of the line where the record starts (text formats) or
        of the record in the file (msgpack).
    unit : str
        ``"line"`` or ``"record"``: what ``line`` counts.
    """

    name: str
    doc: dict[str, Any]
    path: str
    line: int
    unit: str = "line"

    @property
    def location(self) -> str:
        """The location as used in error messages, e.g. ``run.jsonl line 42``."""
        return f"{self.path} {self.unit} {self.line}"


def iter_documents(source: Source) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield the ``(name, doc)`` pairs of a saved document stream, in file order.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        See :func:`iter_located`.

    Yields
    ------
    tuple of (str, dict)
        Each document name and document.

    Raises
    ------
    ReplayError
        As :func:`iter_located`.
    """
    for located in iter_located(source):
        yield located.name, located.doc


def iter_located(source: Source) -> Iterator[Located]:
    """Yield every document of a saved stream with the file and line it came from.

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        A file; a directory, whose :func:`stream_files` are read one after
        the other; ``"-"`` for the standard input's binary buffer (a file
        named ``-`` is ``./-``); or a file object opened in binary mode (it
        is read from its current position, and not closed).

    Yields
    ------
    Located
        Each document with its name, file and line (or record) number.

    Raises
    ------
    ReplayError
        When a file cannot be opened or read, is in no known format, or is
        truncated or corrupt; the documents before the damage are yielded
        first. The message names the file and the line or record.
    TypeError
        When ``source`` is a file object opened in text mode.
    """
    if hasattr(source, "read"):
        yield from _read_stream(_stream_label(source), source)
    elif os.fspath(source) == "-":
        yield from _read_stream("<stdin>", sys.stdin.buffer)
    elif Path(source).is_dir():
        for path in stream_files(source):
            yield from _read_file(path)
    else:
        yield from _read_file(Path(source))


def stream_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Return the files of ``directory`` that :func:`iter_located` reads, sorted by name.

    Subdirectories (the directory is not searched recursively) and hidden
    entries (names starting with ``.``) are skipped. Every other entry is
    expected to be a document stream: a file in no known format, or one that
    cannot be opened (a dangling link), makes the replay fail naming it
    rather than be skipped silently. Names sort by code point, so
    ``run10`` comes before ``run2``; name files with zero-padded numbers.

    Parameters
    ----------
    directory : str or os.PathLike
        The directory to list.

    Returns
    -------
    list of Path
        The files, sorted by name.

    Raises
    ------
    ReplayError
        When the directory cannot be listed.
    """
    try:
        entries = sorted(Path(directory).iterdir(), key=lambda entry: entry.name)
    except OSError as exc:
        raise ReplayError(f"{directory}: cannot list directory ({_reason(exc)})") from exc
    return [entry for entry in entries if not entry.name.startswith(".") and not entry.is_dir()]


def detect_format(source: str | os.PathLike[str] | bytes) -> str:
    """Name the format of a saved document stream from its first bytes.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A file path, or the first bytes of a stream (a few hundred bytes are
        enough, and a gzip-compressed head may be cut anywhere).

    Returns
    -------
    str
        One of :data:`FORMATS`, with ``+gzip`` appended when compressed,
        e.g. ``"jsonl-pairs+gzip"``.

    Raises
    ------
    ReplayError
        When the file cannot be read or the content is in no known format.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        return _probe("<bytes>", io.BytesIO(bytes(source)))[0]
    path = Path(source)
    with _open(path) as raw:
        return _probe(str(path), raw)[0]


# -- sources -----------------------------------------------------------------


def _stream_label(stream: Any) -> str:
    if isinstance(stream, io.TextIOBase):
        raise TypeError("iter_located needs a binary file object; open the file with 'rb'")
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) else "<stream>"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")  # the caller closes it (with block)
    except OSError as exc:
        raise ReplayError(f"{path}: cannot open ({_reason(exc)})") from exc


def _read_file(path: Path) -> Iterator[Located]:
    with _open(path) as raw:
        yield from _read_stream(str(path), raw)


def _read_stream(label: str, raw: BinaryIO) -> Iterator[Located]:
    name, reader = _probe(label, raw)
    base = name.removesuffix("+gzip")
    if base == "msgpack":
        yield from _read_msgpack(label, reader)
    elif base == "json-array":
        yield from _read_array(label, reader)
    elif base != "empty":
        yield from _read_text(label, reader, separated=base == "json-seq")


# -- reading with a head that can be looked at first --------------------------


class _ReadError(Exception):
    """A read failed (truncated or corrupt compressed data, I/O error)."""


class _Rewound(io.RawIOBase):
    """A raw stream serving ``head`` first, then the rest of ``inner``.

    Read failures of ``inner`` become :class:`_ReadError`; ``pending`` is a
    failure met while the head was read, raised once the head is served.
    """

    def __init__(self, inner: Any, head: bytes = b"", pending: _ReadError | None = None):
        super().__init__()
        # read1 reads at most once from below, so no data already decompressed
        # is lost when a later read fails.
        self._read = getattr(inner, "read1", inner.read)
        self._head = memoryview(head)
        self._pending = pending

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
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


def _guarded_read(read: Callable[[int], bytes], size: int) -> bytes:
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


def _decidable(head: bytes) -> bool:
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
    reader = io.BufferedReader(_Rewound(outer, head.data, head.broken), buffer_size=_BUFFER)
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


# -- records -------------------------------------------------------------------


def _as_pair(value: Any, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(value, list | tuple) and len(value) == 2:
        name, doc = value
    elif isinstance(value, dict) and "name" in value and "doc" in value:
        name, doc = value["name"], value["doc"]
    else:
        raise ReplayError(f"{where}: expected {_SHAPES}, got {_preview(value)}")
    if not isinstance(name, str) or not isinstance(doc, dict):
        raise ReplayError(
            f"{where}: expected a string name and a dict document, "
            f"got {type(name).__name__} and {type(doc).__name__}"
        )
    return name, doc


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _unterminated(exc: json.JSONDecodeError) -> bool:
    """Whether the JSON text is a cut-off prefix rather than wrong in its middle.

    True when the error is in the last token (``1.``, ``tr``, ``"abc``) or at
    the very end: what is missing could follow.
    """
    if exc.msg.startswith("Unterminated string"):
        return True
    return _STRUCTURE.search(exc.doc, exc.pos, len(exc.doc.rstrip())) is None


def _decode_utf8(data: bytes, label: str, first_line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end >= len(data):  # cut inside a character
            raise ReplayError(f"{label} line {first_line}: {_CUT_JSON}") from exc
        line = first_line + data.count(b"\n", 0, exc.start)
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        problem = f"not UTF-8 text (byte {column} of the line)"
        raise ReplayError(f"{label} line {line}: {problem}") from exc


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
    start, parts = 0, []
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
    pos = _TEXT_WHITESPACE.match(text).end() + 1  # past the "[" that detection saw
    expect_value, first = True, True
    while True:
        pos = _TEXT_WHITESPACE.match(text, pos).end()
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
    pos = _TEXT_WHITESPACE.match(text, pos).end()
    if pos < len(text):
        raise ReplayError(f"{label} line {line_at(pos)}: unexpected data after the closing ']'")


# -- msgpack -------------------------------------------------------------------


def _read_msgpack(label: str, reader: io.BufferedReader) -> Iterator[Located]:
    msgpack = _import_msgpack(label)
    unpacker = msgpack.Unpacker(
        raw=False, strict_map_key=False, max_buffer_size=_MSGPACK_MAX, object_hook=_numpy_hook
    )
    fed = record = start = 0
    while True:
        chunk, broken = _read_chunk(reader)
        where = f"{label} record {record + 1} (byte {start})"
        _unpacking(msgpack, where, unpacker.feed, chunk)
        fed += len(chunk)
        while (value := _unpacking(msgpack, where, next, unpacker, _END)) is not _END:
            record += 1
            yield Located(*_as_pair(value, where), label, record, "record")
            start = unpacker.tell()
            where = f"{label} record {record + 1} (byte {start})"
        if broken is not None:
            raise ReplayError(f"{where}: {broken}")
        if not chunk:
            break
    if unpacker.tell() < fed:
        raise ReplayError(f"{where}: incomplete msgpack record (truncated file?)")


_END = object()  # no complete msgpack value buffered


def _unpacking(msgpack: Any, where: str, call: Callable[..., Any], *args: Any) -> Any:
    """Call ``call(*args)``, turning msgpack decoding errors into ReplayError."""
    try:
        return call(*args)
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
