"""The spec's calls of :class:`~resonance_callback.store.RunWriter`: each builds a row.

Methods of the façade (assigned in its class body), kept here so each module
reads as one concern: ``open_run``, ``close_run``, ``open_stream``,
``write_event`` and ``write_image`` as ``shared/spec/run-writer-api.txt`` names
them, each building the row the callback would hand over and writing it through
the :class:`~resonance_callback.store.RowWriter` the façade holds.
"""

from __future__ import annotations

import time as _time
import uuid
from typing import Any, Protocol

import numpy as np

from resonance_callback.store._row_writer import RowWriter
from resonance_callback.store._rows import EventRow, RunRow, StopRow, StreamRow
from resonance_callback.store._sample import SampleMetadata

__all__ = ["HoldsWriter", "close_run", "open_run", "open_stream", "write_event", "write_image"]


class HoldsWriter(Protocol):
    """The façade, as its spec calls see it: it holds a :class:`RowWriter`."""

    _writer: RowWriter


def open_run(
    self: HoldsWriter,
    plan_name: str,
    *,
    metadata: dict[str, Any] | None = None,
    uid: str | None = None,
    sample: SampleMetadata | None = None,
    time: float | None = None,
) -> str:
    """Insert a new run row and return its UID.

    Parameters
    ----------
    plan_name : str
        Name of the scan plan, e.g. ``"en_scan"``.
    metadata : dict[str, Any] or None
        Arbitrary run-level metadata serialized to JSON. Defaults to an
        empty dict. The callback stores the whole start document here.
    uid : str or None, optional
        The run's uid (the start document's); a new hex UUID if None.
    sample : SampleMetadata or None, optional
        The run's sample, upserted by name; the writer's sample if None.
    time : float or None, optional
        Unix start time; now if None.

    Returns
    -------
    str
        UID of the newly created run.

    Raises
    ------
    RuntimeError
        If the writer is not open (:class:`WriterStateError`).
    ValueError
        If a run with this uid is already stored (:class:`DocumentError`).
    """
    self._writer.parts("open a run")
    return self._writer.write_run(RunRow(uid or uuid.uuid4().hex, plan_name,
                                 _time.time() if time is None else time, metadata or {},
                                 sample))

def close_run(
    self: HoldsWriter,
    *,
    exit_status: str = "success",
    uid: str | None = None,
    time: float | None = None,
    reason: str | None = None,
    stop_document: dict[str, Any] | None = None,
) -> None:
    """Finalize the current run and commit all pending events.

    Parameters
    ----------
    exit_status : str
        Final status string: ``"success"``, ``"aborted"`` or ``"failed"``.
        Defaults to ``"success"``.
    uid : str or None, optional
        Which open run to close; the current run if None.
    time : float or None, optional
        Unix stop time; now if None.
    reason : str or None, optional
        Why the run ended (the stop document's ``reason``).
    stop_document : dict or None, optional
        The stop document, kept as JSON.

    Raises
    ------
    RuntimeError
        If the writer is not open or no run has been opened
        (:class:`WriterStateError`).
    ValueError
        If ``exit_status`` is not one of the three values
        (:class:`DocumentError`).
    """
    run_uid = self._writer.require_run("close a run", uid)
    self._writer.write_stop(StopRow(run_uid, exit_status, time, reason, stop_document))


def open_stream(
    self: HoldsWriter,
    name: str,
    data_keys: dict[str, Any],
    *,
    uid: str | None = None,
    run_uid: str | None = None,
    time: float | None = None,
    configuration: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
) -> str:
    """Insert a new stream row and return its UID.

    One row per descriptor: a stream name may be opened again in the same
    run (a reconfigured device), and each row keeps its configuration.

    Parameters
    ----------
    name : str
        Stream name, e.g. ``"primary"``.
    data_keys : dict[str, Any]
        Descriptor mapping field names to their metadata, serialized to JSON.
    uid : str or None, optional
        The stream's uid (the descriptor's); a new hex UUID if None.
    run_uid : str or None, optional
        The open run the stream belongs to; the current run if None.
    time : float or None, optional
        The descriptor's time.
    configuration : dict or None, optional
        The descriptor's ``configuration`` (device settings per object).
    document : dict or None, optional
        The whole descriptor document, kept as JSON.

    Returns
    -------
    str
        UID of the newly created stream.

    Raises
    ------
    RuntimeError
        If the writer is not open or no run has been opened
        (:class:`WriterStateError`).
    ValueError
        If a stream with this uid is already stored (:class:`DocumentError`).
    """
    run = self._writer.require_run("open a stream", run_uid)
    return self._writer.write_stream(StreamRow(uid or uuid.uuid4().hex, run, name, data_keys, time,
                                       configuration or {}, document or {}))


def write_event(
    self: HoldsWriter,
    data: dict[str, Any],
    timestamps: dict[str, float] | None = None,
    *,
    stream_uid: str | None = None,
    uid: str | None = None,
    time: float | None = None,
    seq_num: int | None = None,
    filled: dict[str, Any] | None = None,
    derived: bool = False,
) -> str:
    """Insert an event row and return its UID.

    Events are committed in batches: every ``commit_every`` events or
    ``commit_interval`` seconds, whichever comes first, and at run end.

    Parameters
    ----------
    data : dict[str, float | int | str | bool]
        Measured values keyed by field name (any JSON-able value, numpy included).
    timestamps : dict[str, float] or None
        Per-field acquisition timestamps. Defaults to an empty dict.
    stream_uid : str or None, optional
        The open stream the event belongs to; the current stream if None.
    uid : str or None, optional
        The event's uid; a new hex UUID if None.
    time : float or None, optional
        The event's time; now if None.
    seq_num : int or None, optional
        The event's sequence number; the stream's counter + 1 if None.
    filled : dict or None, optional
        The event's ``filled`` map, kept for the round trip.
    derived : bool, optional
        True for a row the writer's caller made up (a fly scan's frames
        with no event document).

    Returns
    -------
    str
        UID of the newly inserted event.

    Raises
    ------
    RuntimeError
        If the writer is not open, no run has been opened, or no stream has
        been opened (:class:`WriterStateError`).
    ValueError
        If this event (its stream, seq_num and uid) is already stored
        (:class:`DocumentError`).
    """
    self._writer.parts("write an event")
    stream, state = self._writer.runs.require_stream("write an event", stream_uid)
    return self._writer.write_event(EventRow(
        uid or uuid.uuid4().hex, stream, state.seq_num + 1 if seq_num is None else seq_num,
        _time.time() if time is None else time, data, timestamps or {}, filled),
        derived=derived)

def write_image(
    self: HoldsWriter,
    event_uid: str,
    field_name: str,
    image: np.ndarray,
    *,
    timestamp: float | None = None,
    stream_uid: str | None = None,
    seq_num: int | None = None,
) -> None:
    """Append a 2-D image frame to the Zarr store and record a reference in SQLite.

    Parameters
    ----------
    event_uid : str
        UID of the parent event row in the ``events`` table.
    field_name : str
        Detector field name, e.g. ``"img"``.
    image : numpy.ndarray
        2-D array of shape ``(H, W)``; any other fixed shape (a stack
        ``(n, H, W)`` per event, a long 1-D trace) is stored the same way.
        The dtype is kept.
    timestamp : float or None, optional
        The field's timestamp in the event.
    stream_uid, seq_num : str and int, optional
        Where the event is, when the caller knows it: the event is then found
        by its key. Without them, the event written last is found at once and
        any other is searched for in the open streams.

    Raises
    ------
    RuntimeError
        If the writer is not open (:class:`WriterStateError`).
    RuntimeError
        If no run has been opened (:class:`WriterStateError`).
    RuntimeError
        If no stream has been opened (:class:`WriterStateError`).
    ValueError
        If the event is unknown, or the frame's shape or dtype does not fit
        the field's array (:class:`DocumentError`, :class:`FrameShapeError`).

    Notes
    -----
    The Zarr store lives at ``{db_path.stem}.zarr/`` alongside the ``.db``
    file. Frames are appended to the array at
    ``runs/{run_uid}/{stream_name}/{field_name}`` inside the store (the
    spec's ``runs/{run_uid}/{field_name}`` plus the stream name, so two
    streams never share an array), one frame per chunk. Each call grows the
    array by one frame along axis 0. The ``image_refs`` row stores the
    array's path and the zero-based frame index, and ``compression_codec``
    records the codec the array really uses.
    """
    self._writer.write_image(event_uid, field_name, image, timestamp=timestamp,
                             stream_uid=stream_uid, seq_num=seq_num)
