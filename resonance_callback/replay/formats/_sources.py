"""Open the files of a source and hand each to the reader of its format."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from resonance_callback.errors import ReplayError
from resonance_callback.replay.formats._common import Damaged, Located, _damaged, _reason
from resonance_callback.replay.formats._detect import _probe
from resonance_callback.replay.formats._msgpack import _read_msgpack
from resonance_callback.replay.formats._position import ReadPosition
from resonance_callback.replay.formats._text import _read_array, _read_text

# -- sources -----------------------------------------------------------------


def _stream_label(stream: object) -> str:
    if isinstance(stream, io.TextIOBase):
        raise TypeError("iter_located needs a binary file object; open the file with 'rb'")
    if not hasattr(stream, "read"):
        raise TypeError(f"expected a path or a binary file object, not {type(stream).__name__}")
    name = getattr(stream, "name", None)
    return name if isinstance(name, str) else "<stream>"




def _open(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")  # the caller closes it (with block)
    except OSError as exc:
        raise ReplayError(f"{path}: cannot open ({_reason(exc)})") from exc


def _read_file(path: Path, position: ReadPosition | None, limit: int,
               named: bool) -> Iterator[Located | Damaged]:
    try:
        raw = _open(path)
    except ReplayError as exc:
        if named:  # the file given: no stream at all
            raise
        yield _damaged(exc, str(path), 1, 0, None, rest_lost=True)
        return
    with raw:
        if position is not None:
            position._reading(raw)
        yield from _read_stream(str(path), raw, limit)
        if position is not None:
            position._finished()


def _read_stream(label: str, raw: BinaryIO, limit: int) -> Iterator[Located | Damaged]:
    try:
        name, reader = _probe(label, raw)
    except ReplayError as exc:
        yield _damaged(exc, label, 1, 0, None, rest_lost=True)
        return
    base = name.removesuffix("+gzip")
    if base == "msgpack":
        yield from _read_msgpack(label, reader, limit)
    elif base == "json-array":
        yield from _read_array(label, reader)
    elif base != "empty":
        yield from _read_text(label, reader, base == "json-seq", limit)
