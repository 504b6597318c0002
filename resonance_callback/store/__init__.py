"""The beamtime: its SQLite schema, the Zarr frame store, and every query against them.

This is the only package that speaks SQL to a beamtime database. Writers
(:class:`RunWriter`) take method calls, never documents; readers get rows
through the functions exported here.
"""

from resonance_callback.store._filter import run_filter
from resonance_callback.store._frames import DEFAULT_CODEC, FrameStore, codec_name
from resonance_callback.store._idempotent import IdempotentRunWriter
from resonance_callback.store._rows import (
    EventRow,
    ExternalRow,
    Refusal,
    RejectedRow,
    RunRow,
    StopRow,
    StreamRow,
    UnresolvedRow,
)
from resonance_callback.store._sample import SampleMetadata
from resonance_callback.store._vocabulary import (
    BLUESKY_EXIT_STATUSES,
    EXIT_STATUSES,
    OPEN,
    STATUS_FILTERS,
    exit_status_from_stop,
    status_filter,
)
from resonance_callback.store._write_counts import WriteCounts
from resonance_callback.store._writer import RunWriter

__all__ = [
    "BLUESKY_EXIT_STATUSES",
    "DEFAULT_CODEC",
    "EXIT_STATUSES",
    "EventRow",
    "ExternalRow",
    "OPEN",
    "Refusal",
    "RejectedRow",
    "RunRow",
    "STATUS_FILTERS",
    "FrameStore",
    "IdempotentRunWriter",
    "RunWriter",
    "SampleMetadata",
    "StopRow",
    "StreamRow",
    "UnresolvedRow",
    "WriteCounts",
    "codec_name",
    "exit_status_from_stop",
    "run_filter",
    "status_filter",
]
