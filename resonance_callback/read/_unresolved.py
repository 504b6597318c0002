"""Frames a run references but never stored: read as a gap that raises, not as no field.

A detector frame the writer could not read (its file missing, unreadable,
refused) is recorded in ``unresolved_frames`` with its reason and listed by
``check``. The event keeps its reference (a datum id); a stream's ``read()``
(locally and over Tiled) must not serve that reference as the data, nor drop
the field: as TiledWriter's catalog does for a file it cannot read, the
field is there, in its shape, and reading an unstored frame raises
(:class:`~resonance_callback.errors.StorageError` with the reference and
the reason). :func:`stream_frames` builds that array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from resonance_callback.errors import DataLookupError
from resonance_callback.read._frames import FrameArray, FrameReader
from resonance_callback.store import BeamtimeReader, run_queries

__all__ = ["event_frame", "field_frames", "stream_frames", "unresolved_fields"]


def field_frames(reader: BeamtimeReader, frames: FrameReader, run_uid: str, stream: str,
                 field: str) -> FrameArray | None:
    """Return the frames of one field (:meth:`Run.images`), None if it has none.

    Frames that are one span of one array (as the writer appends them) are found
    from the field's ``frame_spans`` rows, in time independent of the run's
    length; any other layout is read from every reference.
    """
    name = f"{run_uid[:8]}/{stream}/{field}"
    with reader.snapshot():
        span = run_queries.frame_span(reader, run_uid, stream, field)
        refs = [] if span else run_queries.image_rows(reader, run_uid, stream, field)
    if span:
        return FrameArray.span(frames, *span, name=name)
    return FrameArray(frames, refs, name=name) if refs else None


def event_frame(reader: BeamtimeReader, frames: FrameReader, run_uid: str, event_uid: str,
                field: str) -> np.ndarray:
    """Return the frame of ``field`` of one event of a run (:meth:`Run.event_frame`)."""
    ref = run_queries.event_frame(reader, run_uid, event_uid, field)
    if ref is None:
        raise DataLookupError(f"run {run_uid} has no frame {field!r} of event {event_uid}")
    return frames.read(*ref)


def unresolved_fields(reader: BeamtimeReader, run_uid: str, stream: str
                      ) -> dict[str, dict[int, str]]:
    """Return, per field, the seq_nums of frames never stored, each with its reference and why."""
    out: dict[str, dict[int, str]] = {}
    for field, seq_num, reference, reason in run_queries.unresolved_rows(reader, run_uid, stream):
        out.setdefault(field, {}).setdefault(int(seq_num), f"{reference}: {reason}")
    return out


def _declared(data_key: dict[str, Any]) -> tuple[tuple[int, ...], np.dtype] | None:
    """The frame shape and dtype a descriptor declares, if it declares them fully."""
    shape = data_key.get("shape")
    if not isinstance(shape, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape):
        return None
    try:
        dtype = np.dtype(data_key.get("dtype_numpy") or "float64")
    except (TypeError, ValueError):
        dtype = np.dtype("float64")
    if dtype.kind not in "biufc":
        return None
    return tuple(shape), dtype


def stream_frames(reader: BeamtimeReader, frames: FrameReader, run_uid: str, stream: str,
                  field: str, descriptors: list[dict[str, Any]], seq_nums: list[int],
                  unresolved: dict[int, str]) -> FrameArray:
    """Return the frames of one field, one per row of ``seq_nums`` that has or lacks one.

    Parameters
    ----------
    reader, frames : BeamtimeReader, FrameReader
        The beamtime and its frame store.
    run_uid, stream, field : str
        Which frames.
    descriptors : list of dict
        The stream's descriptors; the field's data key (declared shape and dtype) is
        used when no frame was stored.
    seq_nums : list of int
        The stream's rows, in order.
    unresolved : dict
        The field's frames never stored: ``{seq_num: "reference: reason"}``.

    Returns
    -------
    FrameArray
        A stored frame where there is one, a gap that raises on reading
        where the frame was never stored; rows with neither are left out.
    """
    data_key: dict[str, Any] = next((d["data_keys"][field] for d in descriptors
                                     if field in (d.get("data_keys") or {})), {})
    stored = {int(seq): (path, index) for seq, path, index
              in run_queries.image_rows_by_seq(reader, run_uid, stream, field)}
    refs: list[tuple[str, int] | None] = []
    missing: dict[int, str] = {}
    for seq in seq_nums:
        if seq in stored:
            refs.append(stored[seq])
        elif seq in unresolved:
            missing[len(refs)] = f"seq_num {seq} ({unresolved[seq]})"
            refs.append(None)
    return FrameArray(frames, refs, name=f"{run_uid[:8]}/{stream}/{field}", missing=missing,
                      declared=_declared(data_key))
