"""The checks made on a detector file just before it is opened, and the read bounds.

A :class:`_FileGuard` is built per resource by the path policy. Before a file
is opened it checks that the file's real path (every symlink resolved) lies
under the guard's roots, that it is a regular file (a FIFO, device or socket
is refused before it is opened, so a read never blocks on one) and that it is
not larger than the byte bound. Readers of containers (HDF5) check the bytes
of each slice they are asked for with :meth:`_FileGuard.check_bytes`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from resonance_callback.errors import UnsafePathError
from resonance_callback.external._common import MAX_FRAME_INDEX, _is_within

DEFAULT_MAX_READ_BYTES = 1 << 30
"""Default bound on the bytes of one read: one file, or one slice of an HDF5 dataset (1 GiB)."""

MAX_STREAM_EVENTS = 1_000_000
"""The most events one ``stream_datum`` may cover; a longer range is refused."""

__all__ = ["DEFAULT_MAX_READ_BYTES", "MAX_FRAME_INDEX", "MAX_STREAM_EVENTS", "_FileGuard"]

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


@dataclass(frozen=True)
class _FileGuard:
    """Where a resource's files may really be, and how many bytes one read may take.

    Attributes
    ----------
    roots : tuple of Path
        Real (symlink-resolved) directories a file's real path must lie under.
    max_bytes : int
        The bound on one read.
    """

    roots: tuple[Path, ...]
    max_bytes: int = DEFAULT_MAX_READ_BYTES

    def check(self, path: str | os.PathLike[str], what: str) -> None:
        """Refuse ``path`` unless it is a regular file within the roots and the byte bound.

        Raises
        ------
        UnsafePathError
            The real path is outside the roots, the file is not a regular file,
            or it is larger than ``max_bytes``.
        """
        real = Path(os.path.realpath(path))
        if not any(_is_within(real, root) for root in self.roots):
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
        if status.st_size > self.max_bytes:
            raise UnsafePathError(
                f"{what}: {str(path)!r} is {status.st_size} bytes, over the read bound of "
                f"{self.max_bytes} bytes (external_max_bytes); refused before opening"
            )

    def check_bytes(self, nbytes: int, what: str) -> None:
        """Refuse a read of ``nbytes`` bytes over the bound."""
        if nbytes > self.max_bytes:
            raise UnsafePathError(
                f"{what}: reading {nbytes} bytes is over the read bound of "
                f"{self.max_bytes} bytes (external_max_bytes); refused"
            )


_ANYWHERE = _FileGuard((Path("/"),))
"""The guard of a built-in handler used without a resolver: regular files, default bound."""
