"""What detector data an event or a stream_datum points at, and what waits to be read.

Helpers of :mod:`._external`: which keys of a descriptor are fed by
``stream_datum`` documents, which datum ids an event carries, the checks a
``stream_datum``'s ranges must pass, and the pending references of a run.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from event_model.documents import StreamDatum

from resonance_callback.callback._plan import Split, Storage, StreamPlan, frozen
from resonance_callback.errors import DocumentError, ExternalDataError
from resonance_callback.external import checked_ranges

__all__ = ["Item", "RunState", "check_stream_datum", "describe", "external_refs",
           "has_stream_keys"]


def has_stream_keys(plan: StreamPlan) -> bool:
    """Return True if the descriptor has ophyd-async ``STREAM:`` keys (data from stream_datum)."""
    return any(str((dk or {}).get("external", "")).startswith("STREAM:")
               for dk in plan.data_keys.values() if isinstance(dk, dict))


def external_refs(plan: StreamPlan, split: Split) -> dict[str, str]:
    """Return ``{key: datum id}`` of an event's external keys holding a reference.

    The ids stay in ``split.inline`` (``events.data`` keeps the reference as it
    came). An external key holding an array of two or more dimensions instead
    (an event filled upstream) is moved to ``split.frames``.
    """
    refs: dict[str, str] = {}
    for key, plan_key in plan.keys.items():
        if plan_key.storage is not Storage.EXTERNAL or key not in split.inline:
            continue
        value = split.inline[key]
        if isinstance(value, str):
            refs[key] = value
        elif np.ndim(value) >= 2:
            split.frames[key] = frozen(split.inline.pop(key))
    return refs


def check_stream_datum(doc: StreamDatum, plans: dict[str, StreamPlan]) -> StreamPlan:
    """Return the plan of a stream_datum's descriptor, after checking its ranges.

    Raises
    ------
    DocumentError
        The descriptor is unknown, or ``indices`` and ``seq_nums`` are not
        non-negative, non-reversed integer ranges of the same length within
        the bounds of :func:`~resonance_callback.external.checked_ranges`.
    """
    plan = plans.get(doc["descriptor"])
    if plan is None:
        raise DocumentError(f"stream_datum {doc['uid']}: descriptor {doc['descriptor']} "
                            "is unknown")
    try:
        checked_ranges(doc)
    except ExternalDataError as exc:
        raise DocumentError(str(exc)) from exc
    return plan


@dataclass
class Item:
    """One reference waiting to be read: a datum of one event, or one stream_datum."""

    stream_uid: str
    key: str
    reference: str  # datum id, or stream_datum uid
    seq_nums: range
    event_uid: str | None = None  # ophyd v1: the event holding the datum id
    timestamp: float | None = None
    doc: StreamDatum | None = None  # the stream_datum
    shape: list[Any] | None = None  # its key's declared per-event shape
    received: float | None = None


@dataclass
class RunState:
    """What the routing knows of one run's detector documents; dropped at its stop."""

    refused: dict[str, str] = field(default_factory=dict)  # (stream) resource uid -> reason
    refused_datums: dict[str, str] = field(default_factory=dict)  # datum id -> reason
    stream_keys: dict[str, str] = field(default_factory=dict)  # stream_resource uid -> data key
    pending: defaultdict[tuple[str, str], deque[Item]] = field(
        default_factory=lambda: defaultdict(deque))
    # (stream uid, key, seq_num) -> the reference whose data that event got first
    placed: dict[tuple[str, str, int], str] = field(default_factory=dict)



def describe(exc: BaseException) -> str:
    """An exception as a reason: its message, with the type when the message is bare."""
    if isinstance(exc, ExternalDataError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
