"""Store every Bluesky run in a per-beamtime SQLite database, with frames in Zarr."""

from importlib.metadata import PackageNotFoundError, version

from .callback import RunWriterCallback
from .errors import (
    BeamtimeDatabaseError,
    DataLookupError,
    DocumentError,
    ExternalDataError,
    FrameShapeError,
    NotABeamtimeError,
    ReplayError,
    ResonanceError,
    RunLookupError,
    SchemaVersionError,
    StorageError,
    UnsafePathError,
    WriterStateError,
)
from .reader import Beamtime, Run, open_beamtime
from .sample import SampleMetadata
from .writer import RunWriter

try:
    __version__ = version("resonance-callback")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Beamtime",
    "BeamtimeDatabaseError",
    "DataLookupError",
    "DocumentError",
    "ExternalDataError",
    "FrameShapeError",
    "NotABeamtimeError",
    "ReplayError",
    "ResonanceError",
    "Run",
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
]
