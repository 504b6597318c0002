"""How far a reader is through its files: bytes read of the bytes there are."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["ReadPosition"]


class ReadPosition:
    """Bytes of a saved stream read so far, against its size, while it is read.

    Pass one to :func:`~resonance_callback.replay.formats.iter_located`; it is
    updated as the files are opened and read. Bytes are those of the files as
    stored (compressed bytes for a gzipped file), counted where the reader
    took them from the file, so they run ahead of the documents yielded by at
    most the readers' buffers (about 128 KiB).

    Attributes
    ----------
    bytes_total : int or None
        The size of every file of the source, known once the source is
        opened; None for standard input, a pipe or a file object whose size
        cannot be told.
    """

    def __init__(self) -> None:
        self.bytes_total: int | None = None
        self._done = 0  # bytes of the files finished
        self._file: Any = None  # the file being read, and where it was when handed over
        self._start = 0

    @property
    def bytes_read(self) -> int:
        """Bytes taken from the files so far (at most :attr:`bytes_total`)."""
        read = self._done
        if self._file is not None:
            try:
                read += max(0, self._file.tell() - self._start)
            except (OSError, ValueError):  # a pipe, or closed meanwhile
                pass
        return read if self.bytes_total is None else min(read, self.bytes_total)

    @property
    def fraction(self) -> float | None:
        """``bytes_read / bytes_total``, or None when the size is not known."""
        if not self.bytes_total:
            return None
        return self.bytes_read / self.bytes_total

    def _sized(self, paths: list[Any]) -> None:
        """Start counting against the sizes of ``paths``."""
        try:
            self.bytes_total = sum(os.stat(p).st_size for p in paths)
        except OSError:
            self.bytes_total = None

    def _reading(self, raw: Any, sized: bool = True) -> None:
        """``raw`` is the file read from now on (its size is counted if not ``sized``)."""
        try:
            self._start = raw.tell()
            if not sized:
                size = os.fstat(raw.fileno()).st_size - self._start
                self.bytes_total = (self.bytes_total or 0) + size
        except (OSError, ValueError, AttributeError):
            self._file, self.bytes_total = None, None
            return
        self._file = raw

    def _finished(self) -> None:
        """The current file is read to its end."""
        if self._file is not None:
            try:
                self._done += max(0, self._file.tell() - self._start)
            except (OSError, ValueError):
                pass
        self._file = None
