"""The beamtime: its SQLite schema, the Zarr frame store, and every query against them.

This is the only package that speaks SQL to a beamtime database. Writers
(:class:`RowWriter`, and the spec's :class:`RunWriter`, a façade holding one)
take rows and method calls, never documents; readers get rows
through the functions exported here.
"""

from resonance_callback.store import _acks as acknowledgements
from resonance_callback.store import _column_reads as column_reads
from resonance_callback.store import _frame_location as frame_stores
from resonance_callback.store import _inspect as inspect_queries
from resonance_callback.store import _queries as run_queries
from resonance_callback.store import _stream_text as stream_texts
from resonance_callback.store._codecs import DEFAULT_CODEC, codec_name
from resonance_callback.store._conflicts import ConflictPolicy, StrictConflicts
from resonance_callback.store._counts import RunOverview, event_counts, frame_counts, run_overviews
from resonance_callback.store._filter import (
    BEAMTIME_COLUMNS,
    FilterColumns,
    RunFilter,
    newest_first,
    time_bound,
)
from resonance_callback.store._frames import FrameStore
from resonance_callback.store._idempotent import IdempotentConflicts
from resonance_callback.store._left_out import leave_out_unencodable
from resonance_callback.store._liveness import writer_alive
from resonance_callback.store._lookup import StoredRun, count_runs, find_run, select_runs
from resonance_callback.store._metadata_query import QUERY_KINDS as METADATA_QUERY_KINDS
from resonance_callback.store._metadata_query import matcher as metadata_matcher
from resonance_callback.store._metadata_query import matches as metadata_matches
from resonance_callback.store._queries import RunDocumentRows
from resonance_callback.store._reader import BeamtimeReader
from resonance_callback.store._repair import RepairReport, repair_beamtime
from resonance_callback.store._row_writer import RowWriter
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
from resonance_callback.store._translate import event_row, run_row, stop_row, stream_row
from resonance_callback.store._translate import scan_id as start_scan_id
from resonance_callback.store._vocabulary import (
    BLUESKY_EXIT_STATUSES,
    EXIT_STATUSES,
    INTERRUPTED,
    OPEN,
    STATUS_FILTERS,
    exit_status_from_stop,
    status_filter,
)
from resonance_callback.store._write_counts import WriteCounts
from resonance_callback.store._writer import RunWriter

__all__ = [
    "BEAMTIME_COLUMNS",
    "BLUESKY_EXIT_STATUSES",
    "DEFAULT_CODEC",
    "EXIT_STATUSES",
    "INTERRUPTED",
    "METADATA_QUERY_KINDS",
    "OPEN",
    "STATUS_FILTERS",
    "BeamtimeReader",
    "ConflictPolicy",
    "EventRow",
    "ExternalRow",
    "FilterColumns",
    "FrameStore",
    "IdempotentConflicts",
    "Refusal",
    "RejectedRow",
    "RepairReport",
    "RowWriter",
    "RunDocumentRows",
    "RunFilter",
    "RunOverview",
    "RunRow",
    "RunWriter",
    "SampleMetadata",
    "StopRow",
    "StoredRun",
    "StreamRow",
    "StrictConflicts",
    "UnresolvedRow",
    "WriteCounts",
    "acknowledgements",
    "codec_name",
    "column_reads",
    "count_runs",
    "event_counts",
    "event_row",
    "exit_status_from_stop",
    "find_run",
    "frame_counts",
    "frame_stores",
    "inspect_queries",
    "leave_out_unencodable",
    "metadata_matcher",
    "metadata_matches",
    "newest_first",
    "repair_beamtime",
    "run_overviews",
    "run_queries",
    "run_row",
    "select_runs",
    "start_scan_id",
    "status_filter",
    "stop_row",
    "stream_row",
    "stream_texts",
    "time_bound",
    "writer_alive",
]
