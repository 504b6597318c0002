"""Store every Bluesky run in a per-beamtime SQLite database, with frames in Zarr."""

from importlib.metadata import PackageNotFoundError, version

from .errors import (
    BeamtimeDatabaseError,
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

try:
    __version__ = version("resonance-callback")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "BeamtimeDatabaseError",
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
    "ResonanceError",
    "RunIndexer",
    "RunLookupError",
    "SchemaVersionError",
    "StorageError",
    "UnsafePathError",
    "WriterStateError",
    "__version__",
    "reindex",
    "search",
]
