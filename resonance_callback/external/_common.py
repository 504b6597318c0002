"""Shared pieces of the detector-file readers: mimetypes, path and argument checks, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from resonance_callback._confine import has_traversal
from resonance_callback.errors import (
    ExternalDataError,
    FrameShapeError,
    MalformedReferenceError,
    MissingExtraError,
    UnsafePathError,
)

HandlerClass = Callable[..., Callable[..., Any]]
"""A handler class: ``cls(resource_path, **resource_kwargs)(**datum_kwargs) -> array``."""

_T = TypeVar("_T")

#: A stream resource's mimetype for one HDF5 file (or a ``template`` sequence of them).
HDF5_MIMETYPE = "application/x-hdf5"
#: A stream resource's mimetype for a sequence of TIFF files.
TIFF_MIMETYPE = "multipart/related;type=image/tiff"
#: A stream resource's mimetype for a sequence of JPEG files (the ``jpeg`` extra).
JPEG_MIMETYPE = "multipart/related;type=image/jpeg"
#: A stream resource's mimetype for a sequence of ``.npy`` files.
NPY_MIMETYPE = "multipart/related;type=application/x-npy"
#: A stream resource's mimetype for a file read as its bytes (``uint8``).
OCTET_MIMETYPE = "application/octet-stream"

SUPPORTED_MIMETYPES = frozenset({HDF5_MIMETYPE, TIFF_MIMETYPE, JPEG_MIMETYPE, NPY_MIMETYPE,
                                 OCTET_MIMETYPE})
"""The stream_resource mimetypes :class:`ExternalResolver` reads."""

MAX_FRAME_INDEX = (1 << 31) - 1
"""The largest frame or file index a datum or ``stream_datum`` may name."""

_AD_HDF5_DATASET = "/entry/data/data"


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


def _refuse_traversal(path: str, what: str) -> None:
    if has_traversal(path):
        raise UnsafePathError(f"{what}: path {path!r} contains a '..' component; refused")


def _as_index(value: Any, name: str, where: str) -> int:
    """Validate a datum kwarg that must be a non-negative integer (a file/frame index)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise MalformedReferenceError(f"{where}: {name}={value!r} is not a non-negative integer")
    if value > MAX_FRAME_INDEX:
        raise MalformedReferenceError(f"{where}: {name}={value!r} is beyond the largest index "
                                f"{MAX_FRAME_INDEX}")
    return int(value)


def _as_count(value: Any, name: str, where: str) -> int:
    """Validate a count that must be a positive integer (frames per point or file)."""
    count = _as_index(value, name, where)
    if count == 0:
        raise MalformedReferenceError(f"{where}: {name}=0; at least one frame is needed")
    return count


def _frame_range(point_number: int, frame_per_point: int) -> tuple[int, int]:
    start, stop = point_number * frame_per_point, (point_number + 1) * frame_per_point
    if stop > MAX_FRAME_INDEX + 1:
        raise MalformedReferenceError(
            f"point_number={point_number} with frame_per_point={frame_per_point} reaches "
            f"frame {stop - 1}, beyond the largest index {MAX_FRAME_INDEX}"
        )
    return start, stop
