"""The exceptions raised by resonance-callback.

Every exception the library raises on purpose derives from
:class:`ResonanceError`, and also from the built-in type the spec names for
that situation, so ``except RuntimeError`` written against the spec keeps
working::

    ResonanceError (Exception)
    ├── WriterStateError (RuntimeError)         writer not open / already open / no run / no stream
    ├── BeamtimeDatabaseError (sqlite3.DatabaseError)
    │   ├── NotABeamtimeError                   the file is not a database of the expected kind
    │   └── SchemaVersionError                  the database was written by a newer version
    ├── StorageError (OSError)                  a file, directory or store cannot be used
    ├── DocumentError (ValueError)              a document is malformed or out of order
    │   └── FrameShapeError                     a frame does not match its array's shape or dtype
    ├── ExternalDataError (OSError)             a detector file cannot be resolved or read
    │   ├── UnsafePathError (PermissionError)   a reference points outside the allowed roots
    │   └── MalformedReferenceError             a reference's parameter is unusable (no wait)
    ├── ReplayError (ValueError)                a saved document stream cannot be parsed
    ├── RunLookupError (KeyError)               no run, or more than one run, matches a uid prefix
    ├── IndexEntryError (ValueError)            a value given to the master index is not acceptable
    ├── IndexLookupError (KeyError)             no researcher, beamtime or run in the master index
    ├── DataLookupError (KeyError)              a run has no stream or field of the name asked for
    ├── FilterError (ValueError)                a run filter (time, status, where key) is not usable
    ├── PlotError (ValueError)                  a run's fields cannot be drawn as asked (plot)
    ├── ServerConfigError (ValueError)          serve-tiled asked without --api-key or --public
    ├── RoutingError (ValueError)               a run's start cannot be routed to a beamtime (serve)
    ├── SourceError (ConnectionError)           a message source (0MQ, NATS) cannot be used (serve)
    └── MissingExtraError (ImportError)         an optional part needs a package not installed

Messages always name the uid, key or path concerned.

This module imports nothing else from the package.
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = [
    "BeamtimeDatabaseError",
    "DataLookupError",
    "DocumentError",
    "ExternalDataError",
    "FilterError",
    "FrameShapeError",
    "IndexEntryError",
    "IndexLookupError",
    "MalformedReferenceError",
    "MissingExtraError",
    "NotABeamtimeError",
    "PlotError",
    "ReplayError",
    "ResonanceError",
    "RoutingError",
    "RunLookupError",
    "SchemaVersionError",
    "ServerConfigError",
    "SourceError",
    "StorageError",
    "UnsafePathError",
    "WriterStateError",
]


class ResonanceError(Exception):
    """Base class of every exception resonance-callback raises on purpose."""


class WriterStateError(ResonanceError, RuntimeError):
    """A writer method was called in a state that does not allow it.

    Raised when a writer is opened twice, used after ``close()``, or asked to
    write a stream or event with no run (or no stream) open.
    """


class BeamtimeDatabaseError(ResonanceError, sqlite3.DatabaseError):
    """A database file is corrupt, unreadable or of the wrong kind."""


class NotABeamtimeError(BeamtimeDatabaseError):
    """The file exists and has content, but is not a database of the expected kind.

    Raised for a file that is not SQLite at all, and for an SQLite database
    written by another application.
    """


class SchemaVersionError(BeamtimeDatabaseError):
    """The database schema is newer than this version of the library understands."""


class StorageError(ResonanceError, OSError):
    """A storage location (database file, Zarr store, directory) cannot be used.

    Raised for a missing or read-only directory, a full disk, or a Zarr store
    that cannot be created. The message names the path.
    """


class DocumentError(ResonanceError, ValueError):
    """A document is malformed, unknown or arrives out of order.

    The callback never raises this into a running scan: it records the
    document as rejected, with this error's message as the reason.
    """


class FrameShapeError(DocumentError):
    """A frame's shape or dtype does not match the array it would be appended to."""


class ExternalDataError(ResonanceError, OSError):
    """A detector file referenced by a resource cannot be found, opened or read."""


class UnsafePathError(ExternalDataError, PermissionError):
    """A resource points outside the allowed roots (``..``, foreign host or scheme)."""


class MalformedReferenceError(ExternalDataError):
    """A detector-file reference has a parameter no wait can make usable.

    A template with an oversized field width or attribute access, a bad
    ``chunk_shape``, ``frame_per_point`` or ``join_method``, an index or range
    out of bounds, or a resource that read more than its byte bound: refused at
    once, never retried as a file not written yet.
    """


class ReplayError(ResonanceError, ValueError):
    """A saved document stream cannot be parsed; the message names file and line.

    Raised by ``replay`` once the whole source is read (damaged records are
    skipped, every other one stored), with the ``ReplaySummary`` listing the
    damage in ``summary``; None when raised by the format readers themselves.
    """

    summary: Any = None


class RunLookupError(ResonanceError, KeyError):
    """No stored run, or more than one, matches the uid or prefix asked for."""

    def __str__(self) -> str:
        # KeyError quotes its argument; keep the message readable.
        return str(self.args[0]) if self.args else ""


class IndexEntryError(ResonanceError, ValueError):
    """A value given to the master index cannot be stored or searched for.

    Raised for a beamtime database outside its researcher's root (paths are
    stored relative to that root), an unknown exit status, a run assigned to
    another researcher's beamtime, or a malformed search filter.
    """


class IndexLookupError(ResonanceError, KeyError):
    """The master index holds no researcher, beamtime or run matching the request."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DataLookupError(ResonanceError, KeyError):
    """A stored run has no stream, field or frame of the name asked for.

    The message names the run and lists what it does have.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingExtraError(ResonanceError, ImportError):
    """An optional part of the library needs a package that is not installed.

    Raised when plotting without matplotlib (extra ``plot``) or reading a JPEG
    detector file without Pillow (extra ``jpeg``). The message is one line
    naming the package and the ``pip install 'resonance-callback[extra]'`` to run.
    """


class FilterError(ResonanceError, ValueError):
    """A run filter given to a beamtime cannot be used.

    Raised for a ``since`` / ``until`` that is not a time, an unknown exit
    status, or a malformed ``where`` key; the message names the filter and value.
    """


class PlotError(ResonanceError, ValueError):
    """A stored run cannot be drawn as asked.

    Raised by ``plot`` for a field holding arrays or text where a line or heat map
    needs numbers, a 2-D scan or frames overlaid with other runs, ``--frame`` on
    a field with no frames, or a stream whose hints name nothing to draw. The
    message names the run and the field.
    """


class ServerConfigError(ResonanceError, ValueError):
    """A server cannot start as asked: ``serve-tiled`` without ``--api-key`` or ``--public``.

    The message says what to give instead.
    """


class RoutingError(ResonanceError, ValueError):
    """A run's start document cannot be routed to a beamtime by ``--db-template``.

    Raised by the service (``resonance-callback serve``) when the template names a
    key the start lacks, a value that is not a plain name, or a path that would
    leave the data root. The message names the run uid and the key or path.
    """


class SourceError(ResonanceError, ConnectionError):
    """A message source of the service (a 0MQ proxy, a NATS server) cannot be used.

    Raised for an address that cannot be parsed, a server that cannot be reached
    at start-up, or a JetStream stream that does not exist; the message names it.
    """
