"""Store every Bluesky run in a per-beamtime SQLite database, with frames in Zarr."""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from resonance_callback.callback._callback import RunWriterCallback
from resonance_callback.errors import (
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
from resonance_callback.index._live import RunIndexer
from resonance_callback.index._rebuild import ReindexReport, reindex
from resonance_callback.index._search import IndexedRun, search
from resonance_callback.index._writer import IndexWriter
from resonance_callback.read._beamtime import Beamtime, Run, open_beamtime
from resonance_callback.replay._replay import ReplaySummary, replay
from resonance_callback.store._sample import SampleMetadata
from resonance_callback.store._writer import RunWriter

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
