"""Store every Bluesky run in a per-beamtime SQLite database, with frames in Zarr."""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from resonance_callback.callback import RunWriterCallback
from resonance_callback.errors import (
    BeamtimeDatabaseError,
    DataLookupError,
    DocumentError,
    ExternalDataError,
    FilterError,
    FrameShapeError,
    IndexEntryError,
    IndexLookupError,
    MissingExtraError,
    NotABeamtimeError,
    ReplayError,
    ResonanceError,
    RunLookupError,
    SchemaVersionError,
    StorageError,
    UnsafePathError,
    WriterStateError,
)
from resonance_callback.index import (
    IndexedRun,
    IndexWriter,
    ReindexReport,
    RunIndexer,
    reindex,
    search,
)
from resonance_callback.read import Beamtime, Run, open_beamtime
from resonance_callback.replay import ReplaySummary, replay
from resonance_callback.store import RunWriter, SampleMetadata

try:
    __version__ = _version("resonance-callback")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Beamtime",
    "BeamtimeDatabaseError",
    "DataLookupError",
    "DocumentError",
    "ExternalDataError",
    "FilterError",
    "FrameShapeError",
    "IndexEntryError",
    "IndexLookupError",
    "IndexWriter",
    "IndexedRun",
    "MissingExtraError",
    "NotABeamtimeError",
    "ReindexReport",
    "ReplayError",
    "ReplaySummary",
    "ResonanceError",
    "Run",
    "RunIndexer",
    "RunLookupError",
    "RunWriter",
    "RunWriterCallback",
    "SampleMetadata",
    "SchemaVersionError",
    "StorageError",
    "UnsafePathError",
    "WriterStateError",
    "__version__",
    "open_beamtime",
    "reindex",
    "replay",
    "search",
]
