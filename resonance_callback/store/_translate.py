"""Documents into the store's typed rows: the one translation of each document's columns.

Every reader of documents that makes rows goes through here: the callback
(``callback/``: a start, a descriptor, a stop, and an event once its storage
plan has split its values from its frames, on the hot path and when an
external reference is filled) and the master index's live indexer
(``index/``: the run's summary from its start and stop). So a run's plan name,
time, scan id and exit status mean the same in a beamtime and in the index.

It lives in ``store`` (the store's rows are its output) because the index sits
beside ``read`` and ``external``, below ``callback``, and both must import it.

Each function takes the event-model document it translates (``RunStart``,
``EventDescriptor``, ``RunStop``, ``Event``), checked by its caller for the keys
it indexes; values of the wrong type are translated as the docstrings say, so a
document the callback keeps as it came still makes a row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from event_model.documents import Event, EventDescriptor, RunStart, RunStop

from resonance_callback.store._rows import EventRow, RunRow, StopRow, StreamRow
from resonance_callback.store._sample import SampleMetadata
from resonance_callback.store._vocabulary import exit_status_from_stop

__all__ = ["event_row", "run_row", "scan_id", "stop_row", "stream_row"]


def scan_id(doc: Mapping[str, object]) -> int | None:
    """A start document's ``scan_id`` as the ``scan_id`` column holds it.

    Takes any mapping: it reads start documents and the metadata a caller of
    the spec's ``RunWriter`` passes. An integer that SQLite can hold (64
    bits); anything else (a bool, a string, a larger number) is None, the
    document keeping the value as it came.
    """
    value = doc.get("scan_id")
    return value if type(value) is int and -(2**63) <= value < 2**63 else None


def run_row(doc: RunStart, sample: SampleMetadata | None) -> RunRow:
    """A start document's run: its uid, plan name, time, the whole document, its sample.

    A ``plan_name`` that is not a string leaves the column NULL, and a ``time``
    that is not a finite number (or none) gives the time of receipt; the
    document keeps both as they came.
    """
    plan_name = doc.get("plan_name")
    t = doc.get("time")
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
        t = time.time()
    return RunRow(doc["uid"], plan_name if isinstance(plan_name, str) else None, t, doc, sample)


def stream_row(doc: EventDescriptor, run_uid: str) -> StreamRow:
    """A descriptor's stream (``primary`` when it names none)."""
    return StreamRow(doc["uid"], run_uid, doc.get("name", "primary"), doc["data_keys"],
                     doc.get("time"), doc.get("configuration") or {}, doc)


def stop_row(doc: RunStop, run_uid: str) -> StopRow:
    """A stop document's columns; an exit status outside the vocabulary is noted in the reason."""
    status, note = exit_status_from_stop(doc.get("exit_status"))
    reason = doc.get("reason") or None
    if note is not None:
        reason = f"{note}; {reason or ''}".strip("; ")
    return StopRow(run_uid, status, doc.get("time"), reason, doc)


def event_row(doc: Event, data: dict[str, Any], timestamps: dict[str, Any],
              frames: Mapping[str, Any] | None = None,
              frame_timestamps: Mapping[str, Any] | None = None) -> EventRow:
    """An event's row: its uid, stream, seq_num, time and filled map, with the values given.

    ``data`` and ``timestamps`` are the values stored in the row (the event's
    own, or what its storage plan left inline); ``frames`` and their
    ``frame_timestamps`` are written to the frame store with it.
    """
    return EventRow(doc["uid"], doc["descriptor"], doc["seq_num"], doc["time"], data,
                    timestamps, doc.get("filled") or None, frames, frame_timestamps)
