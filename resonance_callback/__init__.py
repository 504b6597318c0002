"""Store every Bluesky run in a per-beamtime SQLite database, with frames in Zarr."""

from importlib.metadata import PackageNotFoundError, version

from .errors import (
    BeamtimeDatabaseError,
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

try:
    __version__ = version("resonance-callback")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "BeamtimeDatabaseError",
    "DocumentError",
    "ExternalDataError",
    "FrameShapeError",
    "NotABeamtimeError",
    "ReplayError",
    "ResonanceError",
    "RunLookupError",
    "SchemaVersionError",
    "StorageError",
    "UnsafePathError",
    "WriterStateError",
    "__version__",
]
