"""The typed rows the store writes: what a document becomes at the callback's boundary.

:class:`~resonance_callback.callback.RunWriterCallback` translates each document
into one of these rows; :class:`~resonance_callback.store.RunWriter` writes rows
and never sees ``(name, doc)``. Columns that keep a document whole (a run's
start, a stream's descriptor, a stop, a rejected document) hold it as content,
stored as JSON and never read by the writer; they are typed
``Mapping[str, object]``, as what is kept may be a document as it came (a
malformed one is kept too) or the metadata a caller of the spec's
:class:`~resonance_callback.store.RunWriter` passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resonance_callback.store._sample import SampleMetadata

__all__ = [
    "EventRow",
    "ExternalRow",
    "Refusal",
    "RejectedRow",
    "RunRow",
    "StopRow",
    "StreamRow",
    "UnresolvedRow",
]

@dataclass(frozen=True, slots=True)
class RunRow:
    """A run to open: the ``runs`` row of a start document.

    Attributes
    ----------
    uid : str
        The run's uid.
    plan_name : str or None
        The plan's name.
    time : float
        Unix start time.
    metadata : dict
        The whole start document (``runs.metadata``); ``scan_id`` is read from it.
    sample : SampleMetadata or None
        The run's sample; the writer's if None.
    """

    uid: str
    plan_name: str | None
    time: float
    metadata: Mapping[str, object]
    sample: SampleMetadata | None = None


@dataclass(frozen=True, slots=True)
class StreamRow:
    """A stream to open: the ``streams`` row of a descriptor.

    Attributes
    ----------
    uid, run_uid, name : str
        The descriptor's uid, its run, and the stream name.
    data_keys : dict
        The descriptor's ``data_keys``.
    time : float or None
        The descriptor's time.
    configuration : dict
        The descriptor's ``configuration``.
    document : dict
        The whole descriptor, kept as JSON.
    """

    uid: str
    run_uid: str
    name: str
    data_keys: Mapping[str, object]
    time: float | None = None
    configuration: Mapping[str, object] = field(default_factory=dict)
    document: Mapping[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class EventRow:
    """One event: its ``events`` row, with its frames (``image_refs`` rows and Zarr).

    Slotted but not frozen, unlike the other rows: one is made per event on the
    RunEngine's thread, and a frozen dataclass's ``__init__`` costs ~1.4 us more.
    Treat it as read-only.

    Attributes
    ----------
    uid, stream_uid : str
        The event's uid and its stream (descriptor uid).
    seq_num : int
        The event's sequence number.
    time : float
        The event's time.
    data : dict
        Values stored inline in ``events.data``.
    timestamps : dict
        Their timestamps.
    filled : dict or None
        The event's ``filled`` map, kept for the round trip.
    frames : mapping of str to numpy.ndarray or None
        Values stored as frames in Zarr, by key; None (or empty) for a scalar event.
    frame_timestamps : mapping of str to float or None
        Timestamps of the frames, by key.
    """

    uid: str
    stream_uid: str
    seq_num: int
    time: float
    data: dict[str, Any]
    timestamps: dict[str, Any]
    filled: dict[str, Any] | None = None
    frames: Mapping[str, np.ndarray] | None = None
    frame_timestamps: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ExternalRow:
    """A resource, datum, stream_resource or stream_datum kept for provenance.

    Attributes
    ----------
    name, uid : str
        The document's name and uid (``datum_id`` for a datum).
    run_uid : str or None
        The run it belongs to.
    document : dict
        The document, kept as JSON.
    """

    name: str
    uid: str
    run_uid: str | None
    document: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A document that could not be stored as it came, with the reason.

    Attributes
    ----------
    name : str
        The document's name (``"event"``, ``"descriptor"``, ...).
    uid : str or None
        Its uid (``datum_id`` for a datum), if it has one.
    run_uid : str or None
        The run it belongs to, if known.
    reason : str
        Why it was rejected.
    content : object
        What arrived, kept whole as JSON (its ``repr`` if it cannot be encoded).
    """

    name: str
    uid: str | None
    run_uid: str | None
    reason: str
    content: object


@dataclass(frozen=True, slots=True)
class UnresolvedRow:
    """A frame of a detector file that could not be read into the store.

    Attributes
    ----------
    field_name : str
        The data key.
    reference : str
        What pointed at it: a datum id, or ``"{stream_resource uid}[{index}]"``.
    reason : str
        Why it could not be read.
    run_uid, stream_uid : str or None
        Where it belongs.
    seq_num : int or None
        The event's sequence number.
    """

    field_name: str
    reference: str
    reason: str
    run_uid: str | None = None
    stream_uid: str | None = None
    seq_num: int | None = None


@dataclass(frozen=True, slots=True)
class StopRow:
    """The end of a run: its ``runs`` columns from a stop document.

    Attributes
    ----------
    run_uid : str
        The run to close.
    exit_status : str
        ``"success"``, ``"aborted"`` or ``"failed"``.
    time : float or None
        Unix stop time; now if None.
    reason : str or None
        Why the run ended.
    document : dict or None
        The stop document, kept as JSON.
    """

    run_uid: str
    exit_status: str
    time: float | None = None
    reason: str | None = None
    document: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A row of a batch the store did not write whole, and why (see :meth:`RunWriter.write_events`).

    Attributes
    ----------
    index : int
        Its position in the batch.
    reason : str
        Why it was refused, naming its uid.
    stored : bool
        True when the row is stored without the values ``reason`` names (a frame
        that does not fit its array is left out, the rest of its event is stored).
    """

    index: int
    reason: str
    stored: bool = False
