"""Shared pieces of the stream readers: limits, magic bytes, ``Located``, record checks."""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from resonance_callback.errors import ReplayError

_HEAD_LIMIT = 64 * 1024  # give up recognising a stream after this many bytes
_HEAD_STEP = 4 * 1024  # read size while recognising
_STEP = 64 * 1024  # largest single read from below (bounds what corrupt gzip data loses)
_CHUNK = 1024 * 1024  # read size for msgpack and JSON arrays
_BUFFER = 64 * 1024  # buffer of the line reader
_EXCERPT = 80  # bytes of a damaged record kept to show what it held

#: Largest record (a line, a json-seq record, a msgpack record) read, in bytes, unless
#: told otherwise: a longer one is recorded as damaged by its size and skipped, never held.
DEFAULT_MAX_RECORD_BYTES = 64 * 1024**2

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
    doc: dict[str, object]  # as read: a JSON object, not validated (the callback does that)
    path: str
    line: int
    unit: str = "line"

    @property
    def location(self) -> str:
        """The location as used in error messages, e.g. ``run.jsonl line 42``."""
        return f"{self.path} {self.unit} {self.line}"



class Damaged(NamedTuple):
    """A record that could not be read as a ``(name, doc)`` pair, and where it is.

    Attributes
    ----------
    path : str
        The file, as :attr:`Located.path`.
    line : int
        1-based line (text formats) or record (msgpack) where the damage is.
    unit : str
        ``"line"`` or ``"record"``: what ``line`` counts.
    offset : int
        Byte offset of the damaged record in the (decompressed) stream; for
        damage that ends the file, where reading stopped.
    length : int or None
        Its size in bytes, when known (None when the rest of the file is lost).
    reason : str
        What is wrong, e.g. ``invalid JSON (Expecting value, column 1)``.
    excerpt : str
        Its first bytes (at most 80, undecodable bytes escaped).
    message : str
        The whole report naming file and line, e.g.
        ``run.jsonl line 42: unterminated JSON (truncated file?)``.
    rest_lost : bool
        True when the rest of the file could not be read (no record boundary
        to resynchronise on: corrupt or cut compressed data, a damaged JSON
        array, msgpack with no record start after the damage, a file in no
        known format).
    """

    path: str
    line: int
    unit: str
    offset: int
    length: int | None
    reason: str
    excerpt: str
    message: str
    rest_lost: bool = False

    def as_row(self) -> dict[str, Any]:
        """Where and what, as JSON-able data (what the beamtime keeps of it)."""
        return {"file": self.path, self.unit: self.line, "offset": self.offset,
                "length": self.length, "excerpt": self.excerpt, "rest_lost": self.rest_lost}


def _damaged(exc: ReplayError, path: str, line: int, offset: int, length: int | None,
             data: bytes = b"", unit: str = "line", rest_lost: bool = False) -> Damaged:
    """The damage ``exc`` reports, at the record of ``data`` starting at ``offset``."""
    message = str(exc)
    _, sep, reason = message.removeprefix(f"{path} ").partition(": ")
    reason = reason if sep else message
    excerpt = bytes(data[:_EXCERPT]).decode("utf-8", "backslashreplace")
    return Damaged(path, line, unit, offset, length, reason, excerpt, message, rest_lost)


class _ReadError(Exception):
    """A read failed (truncated or corrupt compressed data, I/O error)."""



# -- records -------------------------------------------------------------------


def _as_pair(value: Any, where: str) -> tuple[str, dict[str, object]]:
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


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
