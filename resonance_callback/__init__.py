"""Store every Bluesky run in a per-beamtime SQLite database, with frames in Zarr."""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from .callback import RunWriterCallback
from .errors import (
    BeamtimeDatabaseError,
    DataLookupError,
    DocumentError,
    ExternalDataError,
    FrameShapeError,
    IndexEntryError,
    IndexLookupError,
    NotABeamtimeError,
    ReplayError,
    ResonanceError,
    RunLookupError,
    SchemaVersionError,
    StorageError,
    UnsafePathError,
    WriterStateError,
)
from .index import IndexWriter
from .index_live import RunIndexer
from .index_rebuild import ReindexReport, reindex
from .index_search import IndexedRun, search
from .reader import Beamtime, Run, open_beamtime
from .replay import ReplaySummary, replay
from .sample import SampleMetadata
from .writer import RunWriter

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
    "FrameShapeError",
    "IndexEntryError",
    "IndexLookupError",
    "IndexWriter",
    "IndexedRun",
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
