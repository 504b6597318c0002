"""Shared pieces of the detector-file readers: mimetypes, path and argument checks, waiting."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from resonance_callback.errors import (
    ExternalDataError,
    FrameShapeError,
    MissingExtraError,
    UnsafePathError,
)

HandlerClass = Callable[..., Callable[..., Any]]
"""A handler class: ``cls(resource_path, **resource_kwargs)(**datum_kwargs) -> array``."""

_T = TypeVar("_T")

HDF5_MIMETYPE = "application/x-hdf5"
TIFF_MIMETYPE = "multipart/related;type=image/tiff"
JPEG_MIMETYPE = "multipart/related;type=image/jpeg"

SUPPORTED_MIMETYPES = frozenset({HDF5_MIMETYPE, TIFF_MIMETYPE, JPEG_MIMETYPE})
"""The stream_resource mimetypes :class:`ExternalResolver` reads."""

MAX_FRAME_INDEX = (1 << 31) - 1
"""The largest frame or file index a datum or ``stream_datum`` may name."""

_AD_HDF5_DATASET = "/entry/data/data"
_SEPARATORS = re.compile(r"[\\/]")


class _NotReadyError(Exception):
    """A file exists but does not (yet) hold the data asked for; worth retrying."""


# --------------------------------------------------------------------------- helpers


def _with_retry(what: str, attempt: Callable[[], _T], budget: float, poll_interval: float) -> _T:
    """Call ``attempt`` until it succeeds or ``budget`` seconds have passed.

    ``ExternalDataError`` and ``FrameShapeError`` are permanent and raised at
    once, and so is a missing package (ours: naming the extra; a handler's, e.g.
    fabio for ``AD_CBF``), as ``ExternalDataError`` naming ``what``;
    any other exception means "not readable yet".
    """
    deadline = time.monotonic() + budget
    while True:
        try:
            return attempt()
        except (ExternalDataError, FrameShapeError):  # waiting changes neither
            raise
        except ImportError as exc:  # waiting does not install a package (ours or a handler's)
            shown = str(exc) if isinstance(exc, MissingExtraError) else (
                f"{type(exc).__name__}: {exc}")
            raise ExternalDataError(f"{what}: {shown}") from exc
        except Exception as exc:  # not readable yet: retry until the deadline
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ExternalDataError(
                    f"{what}: not readable after waiting {budget:g} s: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            time.sleep(min(poll_interval, remaining))


def _has_traversal(path: str) -> bool:
    """Return True if ``path`` has a ``..`` component (either separator)."""
    return ".." in _SEPARATORS.split(path)


def _refuse_traversal(path: str, what: str) -> None:
    if _has_traversal(path):
        raise UnsafePathError(f"{what}: path {path!r} contains a '..' component; refused")


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _as_index(value: Any, name: str, where: str) -> int:
    """Validate a datum kwarg that must be a non-negative integer (a file/frame index)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ExternalDataError(f"{where}: {name}={value!r} is not a non-negative integer")
    if value > MAX_FRAME_INDEX:
        raise ExternalDataError(f"{where}: {name}={value!r} is beyond the largest index "
                                f"{MAX_FRAME_INDEX}")
    return int(value)


def _as_count(value: Any, name: str, where: str) -> int:
    """Validate a count that must be a positive integer (frames per point or file)."""
    count = _as_index(value, name, where)
    if count == 0:
        raise ExternalDataError(f"{where}: {name}=0; at least one frame is needed")
    return count


def _frame_range(point_number: int, frame_per_point: int) -> tuple[int, int]:
    start, stop = point_number * frame_per_point, (point_number + 1) * frame_per_point
    if stop > MAX_FRAME_INDEX + 1:
        raise ExternalDataError(
            f"point_number={point_number} with frame_per_point={frame_per_point} reaches "
            f"frame {stop - 1}, beyond the largest index {MAX_FRAME_INDEX}"
        )
    return start, stop


def _format_template(template: str, filename: str, index: int, where: str) -> str:
    """Build one file name from an image-sequence template.

    New-style templates (``"blob_{:06d}.tiff"``, what ophyd-async emits) are
    formatted with the index; printf-style ones (area-detector's
    ``"%s%s_%6.6d.tiff"``) get an empty directory, ``filename`` and the index.
    """
    try:
        if "{" in template:
            return template.format(index)
        args = {2: ("", filename, index), 1: (filename, index), 0: (index,)}
        return template % args[min(template.count("%s"), 2)]
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ExternalDataError(
            f"{where}: cannot build a file name from template {template!r}: {exc}"
        ) from exc


def sequence_file(base: str, template: str, filename: str, number: int, where: str) -> str:
    """The path of file ``number`` of an image or array sequence.

    A printf-style template (area detector's ``"%s%s_%6.6d.tiff"``) is
    formatted with ``base`` as the directory, ``filename`` and ``number``. A
    new-style one (``"_{:d}.tif"``) is formatted with ``number`` and appended
    to ``base`` as TiledWriter does: under it when ``base`` is a directory or
    the name starts with ``/``, else after it (``base`` is then a file stem).
    The name may not have a ``..`` component nor leave the directory.
    """
    base = os.path.normpath(base)
    if "{" not in template:
        directory = base
        name = _format_template(template, filename, number, where)
        path = os.path.join(directory, name)
    else:
        tail = _format_template(template, filename, number, where)
        if tail.startswith("/") or os.path.isdir(base):
            directory, path = base, os.path.join(base, tail.lstrip("/"))
        else:
            directory, path = os.path.dirname(base), base + tail
    _refuse_traversal(path, where)
    if not _is_within(Path(os.path.normpath(path)), Path(directory)):
        raise UnsafePathError(f"{where}: template {template!r} gives {path!r}, outside the "
                              f"directory {directory!r}")
    return path
