"""Documents into the store's typed rows: the columns each document becomes.

The event's row is built in :meth:`RunWriterCallback.event` itself (the hot
path), after its storage plan has split its values from its frames.
"""

from __future__ import annotations

import math
import time
from typing import Any

from resonance_callback.store import (
    RunRow,
    SampleMetadata,
    StopRow,
    StreamRow,
    exit_status_from_stop,
)

__all__ = ["run_row", "stop_row", "stream_row"]


def run_row(doc: dict[str, Any], sample: SampleMetadata) -> RunRow:
    """A start document's run: its uid, plan name, time, the whole document, its sample.

    A ``plan_name`` that is not a string leaves the column NULL, and a ``time``
    that is not a finite number gives the time of receipt; the document keeps
    both as they came.
    """
    plan_name = doc.get("plan_name")
    t = doc["time"]
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
        t = time.time()
    return RunRow(doc["uid"], plan_name if isinstance(plan_name, str) else None, t, doc, sample)


def stream_row(doc: dict[str, Any], run_uid: str) -> StreamRow:
    """A descriptor's stream (``primary`` when it names none)."""
    return StreamRow(doc["uid"], run_uid, doc.get("name", "primary"), doc["data_keys"],
                     doc.get("time"), doc.get("configuration") or {}, doc)


def stop_row(doc: dict[str, Any], run_uid: str) -> StopRow:
    """A stop document's columns; an exit status outside the vocabulary is noted in the reason."""
    status, note = exit_status_from_stop(doc.get("exit_status"))
    reason = doc.get("reason") or None
    if note is not None:
        reason = f"{note}; {reason or ''}".strip("; ")
    return StopRow(run_uid, status, doc.get("time"), reason, doc)
