"""The checks made on a detector file just before it is opened, and the read bounds.

A :class:`_FileGuard` is built per resource by the path policy. Before a file
is opened it checks that the file's real path (every symlink resolved) lies
under the guard's roots, that it is a regular file (a FIFO, device or socket
is refused before it is opened, so a read never blocks on one) and that it is
not larger than the bound on one read. Every reader then checks the bytes it is
about to read with :meth:`_FileGuard.check_bytes` (one read: a datum's frames
or a stream_datum's events, all their files together) and counts what it read
with :meth:`_FileGuard.count`: the bytes a resource reads *in total* are bounded
too (``external_max_bytes``), so a template naming the same file for every
index, or datums repeating one point, cannot read without end.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from resonance_callback._confine import within
from resonance_callback.errors import MalformedReferenceError, UnsafePathError
from resonance_callback.external._common import MAX_FRAME_INDEX

DEFAULT_MAX_READ_BYTES = 1 << 30
"""The bound on the bytes of one read (a datum's frames, a stream_datum's events): 1 GiB.

A smaller ``external_max_bytes`` bounds one read to that.
"""

DEFAULT_MAX_RESOURCE_BYTES = 64 << 30
"""Default bound on the bytes read for one resource in total (``external_max_bytes``, 64 GiB)."""

MAX_STREAM_EVENTS = 1_000_000
"""The most events one ``stream_datum`` may cover; a longer range is refused."""

__all__ = ["DEFAULT_MAX_READ_BYTES", "DEFAULT_MAX_RESOURCE_BYTES", "MAX_FRAME_INDEX",
           "MAX_STREAM_EVENTS", "_FileGuard"]

_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISDIR, "directory"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "special file"


class _Tally:
    """The bytes one resource has read so far (shared by its guard's copies)."""

    def __init__(self) -> None:
        self.read = 0


@dataclass(frozen=True)
class _FileGuard:
    """Where a resource's files may really be, and how many bytes its reads may take.

    Attributes
    ----------
    roots : tuple of Path
        Real (symlink-resolved) directories a file's real path must lie under.
    max_bytes : int
        The bound on one read.
    max_total : int
        The bound on the bytes read for the resource in total.
    """

    roots: tuple[Path, ...]
    max_bytes: int = DEFAULT_MAX_READ_BYTES
    max_total: int = DEFAULT_MAX_RESOURCE_BYTES
    tally: _Tally = field(default_factory=_Tally, compare=False, repr=False)

    def check(self, path: str | os.PathLike[str], what: str, *, whole: bool = True) -> None:
        """Refuse ``path`` unless it is a regular file within the roots and the byte bound.

        ``whole=False`` for a container read in slices (HDF5): its size is not
        what is read, each slice is checked with :meth:`check_bytes` instead.

        Raises
        ------
        UnsafePathError
            The real path is outside the roots, the file is not a regular file,
            or it is larger than ``max_bytes``.
        """
        real = Path(os.path.realpath(path))
        if not any(within(real, root, resolve=False) for root in self.roots):
            roots = ", ".join(str(root) for root in self.roots)
            raise UnsafePathError(
                f"{what}: {str(path)!r} resolves to {str(real)!r}, outside the allowed "
                f"roots ({roots}); refused (symlinks are resolved before reading)"
            )
        try:
            status = os.stat(real)
        except FileNotFoundError:
            return  # not written yet: opening it says so (and is retried)
        if not stat.S_ISREG(status.st_mode):
            raise UnsafePathError(
                f"{what}: {str(path)!r} is a {_kind(status.st_mode)}, not a regular file; "
                "refused before opening"
            )
        if whole and status.st_size > self.max_bytes:
            raise UnsafePathError(
                f"{what}: {str(path)!r} is {status.st_size} bytes, over the read bound of "
                f"{self.max_bytes} bytes (external_max_bytes); refused before opening"
            )

    def check_bytes(self, nbytes: int, what: str, already: int = 0) -> None:
        """Refuse reading ``nbytes`` more bytes over the bound on one read or the total.

        ``already`` is what the same read (a datum's, a stream_datum's) has read
        before this file.

        Raises
        ------
        UnsafePathError
            One read would be larger than ``max_bytes``.
        MalformedReferenceError
            The resource would have read more than ``max_total`` bytes in total.
        """
        if already + nbytes > self.max_bytes:
            more = f" after {already} bytes of the same read" if already else ""
            raise UnsafePathError(
                f"{what}: reading {nbytes} bytes{more} is over the read bound of "
                f"{self.max_bytes} bytes (external_max_bytes); refused"
            )
        if self.tally.read + nbytes > self.max_total:
            raise MalformedReferenceError(
                f"{what}: its resource has read {self.tally.read} bytes; {nbytes} more is over "
                f"the bound of {self.max_total} bytes one resource may read in total "
                "(external_max_bytes); refused"
            )

    def count(self, nbytes: int) -> None:
        """Count ``nbytes`` read for the resource."""
        self.tally.read += nbytes


_ANYWHERE = _FileGuard((Path("/"),), max_total=sys.maxsize)
"""The guard of a built-in handler used without a resolver: regular files, default bound on
one read, no total (it serves every resource such a handler reads)."""
