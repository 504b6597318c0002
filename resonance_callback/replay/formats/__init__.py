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

Damage is met record by record. :func:`iter_records` yields a
:class:`Damaged` item for a record that cannot be read - invalid JSON, text
that is not UTF-8, binary garbage, a cut last line, a value that is not a
``(name, doc)`` pair, a record longer than ``max_record_bytes`` - naming the
file, the line (text formats) or record (msgpack), its byte offset and size
and its first bytes, then goes on with the next record. Line formats
resynchronise at the next newline, ``json-seq`` at the next record
separator, a JSON array at the next element when the element decoded but
is no pair. msgpack has no separator: after bytes that do not decode, or a
record over the limit, reading resumes at the next place where a record
visibly starts (a two-item array or map whose first item is a document
name, e.g. the bytes ``92 a5 "start"``); the damage spans the bytes from
where its record started to there. Where no boundary is left to find, the
damage is the last item of that file (``rest_lost``) and reading goes on
with the next file: JSON that does not decode inside a JSON array, corrupt
or cut gzip data, a msgpack stream with no record start after the damage, a
file in no known format (its first bytes decide the format: a file whose
very first record is damaged is in no known format).
:func:`iter_located` is the strict reading: it raises
:class:`~resonance_callback.errors.ReplayError` at the first damage, with a
message naming the file and the line or record, for example ``run.jsonl
line 42: unterminated JSON (truncated file?)``. A file cut inside a record
is reported as truncated at the line where that record starts. Gzip data
that is corrupt rather than cut short is different: deflate may decode
damaged bytes to wrong text that only the checksum at the end of the gzip
member exposes, so documents decoded from just before the damage can be
wrong (they usually fail to parse first), and up to 64 KiB decoded before
zlib notices the damage can be lost. Byte offsets are those of the
decompressed stream.

Line-based formats and msgpack are streamed, holding one record at a time,
and never more than ``max_record_bytes`` of it (a longer line is skipped a
piece at a time and reported by its size); the JSON array format holds the
whole (decompressed) file in memory.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from resonance_callback.errors import ReplayError
from resonance_callback.replay.formats._common import (
    DEFAULT_MAX_RECORD_BYTES,
    Damaged,
    Located,
    _reason,
)
from resonance_callback.replay.formats._detect import _probe
from resonance_callback.replay.formats._position import ReadPosition
from resonance_callback.replay.formats._sources import (
    _open,
    _read_file,
    _read_stream,
    _stream_label,
)

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "FORMATS",
    "Damaged",
    "Located",
    "ReadPosition",
    "Source",
    "detect_format",
    "iter_documents",
    "iter_located",
    "iter_records",
    "stream_files",
]

FORMATS = ("jsonl-pairs", "jsonl-objects", "json-seq", "json-array", "msgpack", "empty")
"""The base format names :func:`detect_format` returns (each may carry ``+gzip``)."""

Source = str | os.PathLike[str] | BinaryIO
"""A file path, a directory path, ``"-"`` for standard input, or a binary file object."""

def iter_documents(source: Source) -> Iterator[tuple[str, dict[str, object]]]:
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


def iter_located(source: Source, position: ReadPosition | None = None) -> Iterator[Located]:
    """Yield every document of a saved stream with the file and line it came from.

    Strict: the first damaged record ends the reading (:func:`iter_records`
    reads on past damage).

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        A file; a directory, whose :func:`stream_files` are read one after
        the other; ``"-"`` for the standard input's binary buffer (a file
        named ``-`` is ``./-``); or a file object opened in binary mode (it
        is read from its current position, and not closed).
    position : ReadPosition, optional
        Kept up to date with the bytes read of the source's size (for a
        progress bar's ETA); its size stays unknown for standard input.

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
    for item in iter_records(source, position):
        if isinstance(item, Damaged):
            raise ReplayError(item.message)
        yield item


def iter_records(
    source: Source,
    position: ReadPosition | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[Located | Damaged]:
    """Yield every document of a saved stream, and every damaged record, in file order.

    A damaged record is reported and reading goes on with the next record
    (the next file where the format leaves no boundary to find; see the
    module documentation).

    Parameters
    ----------
    source : str, os.PathLike or binary file object
        As :func:`iter_located`.
    position : ReadPosition, optional
        As :func:`iter_located`.
    max_record_bytes : int, optional
        Largest record read (a line, a json-seq or msgpack record); a longer
        one is a :class:`Damaged` item naming its size, never held whole.

    Yields
    ------
    Located or Damaged
        Each document with where it was read, or what is damaged and where.

    Raises
    ------
    ReplayError
        When the source itself cannot be used: a file or directory that
        cannot be opened or listed.
    TypeError
        When ``source`` is a file object opened in text mode.
    """
    limit = max(1, int(max_record_bytes))
    if not isinstance(source, str | os.PathLike):
        label = _stream_label(source)
        if position is not None:
            position._reading(source, sized=False)
        yield from _read_stream(label, source, limit)
    elif os.fspath(source) == "-":
        yield from _read_stream("<stdin>", sys.stdin.buffer, limit)
    else:
        directory = Path(source).is_dir()
        paths = stream_files(source) if directory else [Path(source)]
        if position is not None:
            position._sized(paths)
        for path in paths:
            yield from _read_file(path, position, limit, named=not directory)


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
