"""``RunWriterCallback``: Bluesky documents in, typed rows for the beamtime store out.

:class:`event_model.DocumentRouter` dispatches each document to the method named
after it; each hands it to a collaborator, :class:`~._documents.RunDocuments` or
:class:`~._external_docs.DetectorDocuments`, which translate it into rows on the
caller's thread and hand them as jobs to the :class:`~._recovery.BeamtimeStorage`
(the writer, on a :class:`~._worker.WriterThread` or at once). When rows commit
and what :meth:`RunWriterCallback.flush` guarantees: :mod:`resonance_callback.store._batch`.

The document methods are typed with event-model's documents, as DocumentRouter's are; what
reaches them is unvalidated: the collaborators check the keys they read, and a bad document
never raises into the scan: it is kept in ``rejected_documents`` with the reason (one warning
line). Storage failures raise, naming the path; the next ``start`` reopens the beamtime
(:mod:`~._recovery`). Documents of a run already stored are compared with the stored rows
(:class:`~resonance_callback.store.IdempotentConflicts`).
"""

from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self, cast, overload

import event_model
from event_model import documents as em

from resonance_callback.callback._capture import capture
from resonance_callback.callback._documents import RunDocuments, reason
from resonance_callback.callback._external import ExternalRouting
from resonance_callback.callback._external_docs import DetectorDocuments
from resonance_callback.callback._lifetime import close_at_exit, close_storage, write_counts
from resonance_callback.callback._plan import INLINE_LIMIT
from resonance_callback.callback._recovery import BeamtimeStorage
from resonance_callback.callback._runs import OpenRuns, Unplaced
from resonance_callback.errors import BeamtimeDatabaseError, DocumentError, StorageError
from resonance_callback.external import DEFAULT_MAX_RESOURCE_BYTES, ExternalResolver, HandlerClass
from resonance_callback.index import RunIndexer
from resonance_callback.store import DEFAULT_CODEC, SampleMetadata, WriteCounts

__all__ = ["RunWriterCallback"]

#: Documents routed here; ``event_page`` and ``datum_page`` are unpacked by DocumentRouter.
_HANDLED = frozenset({"start", "descriptor", "event", "event_page", "stop", "resource", "datum",
                      "datum_page", "stream_resource", "stream_datum"})


class RunWriterCallback(event_model.DocumentRouter):
    """Store every run a RunEngine emits in a beamtime database: ``RE.subscribe(cb)``.

    Parameters
    ----------
    db_path : Path or str
        The beamtime SQLite file, created if missing; frames go to
        ``{db_path.stem}.zarr/`` beside it.
    sample : SampleMetadata, str or None, optional
        The sample of runs whose start document names none (``start["sample"]``
        as a name or a dict with ``name`` wins); ``None`` means ``unknown``.
    commit_every : int, optional
        Commit after this many events at the latest.
    commit_interval : float, optional
        Seconds after which pending rows are committed, even when idle.
    codec : str, optional
        Compression of new frame arrays: ``"blosc-lz4"`` (default), ``"blosc-zstd"``,
        ``"zstd"`` or ``"none"``.
    inline_limit : int, optional
        1-D arrays longer than this are stored in Zarr rather than in JSON.
    threaded : bool, optional
        Write on a background thread (default) so the scan does not wait on
        disk and compression; ``False`` writes on the caller's thread
        (consecutive scalar events in batches, stored before any other
        document; what :func:`~resonance_callback.replay.replay` uses for files).
    zarr_store, frames : path, ``"s3://bucket/prefix"`` or zarr store, optional
        Where frames go instead of the default (``frames`` wins; see :class:`RunWriter`).
    handler_registry : mapping of str to handler class, optional
        ``{spec: cls}`` for ophyd (v1) resources, overriding the handlers
        installed in the ``databroker.handlers`` entry-point group and ours
        (``NPY_SEQ``, the HDF5 family, ``AD_TIFF``, ``AD_JPEG``);
        ``cls(path, **resource_kwargs)(**datum_kwargs) -> array``.
    root_map : mapping of str to str, optional
        ``{old_prefix: new_prefix}`` for detector files that have moved.
    base_dir : path-like, optional
        Directory relative detector-file paths resolve against; default the
        working directory.
    allowed_roots : iterable of path-like, optional
        If given, detector files are read only under these directories (plus
        ``root_map`` targets and ``base_dir``); others are refused.
    external_timeout : float, optional
        Seconds the ``stop`` of a run may wait, in all, for detector files not
        readable yet (on the writer thread; default 5).
    external_max_bytes : int, optional
        The bound on the bytes read for one resource or stream_resource in
        total (default 64 GiB); one read (a datum's frames, a stream_datum's
        events) is at most this and at most 1 GiB. Reads over either are refused.
    index : RunIndexer or None, optional
        Index each run in a master index as it starts and stops (on the writer
        thread, after the run is safe in the beamtime database). An index
        failure is logged and never affects the beamtime write;
        ``resonance-callback reindex`` repairs it. Closed with the callback.

    Raises
    ------
    OSError
        If the database or Zarr store cannot be created (:class:`StorageError`).
    sqlite3.DatabaseError
        If ``db_path`` is not a beamtime database (:class:`BeamtimeDatabaseError`).

    Examples
    --------
    >>> RE.subscribe(RunWriterCallback("beamtime.db"))  # doctest: +SKIP
    """

    def __init__(
        self, db_path: Path | str, *, sample: SampleMetadata | str | None = None,
        commit_every: int = 1000, commit_interval: float = 0.5, codec: str = DEFAULT_CODEC,
        inline_limit: int = INLINE_LIMIT, threaded: bool = True, zarr_store: Any = None,
        handler_registry: Mapping[str, HandlerClass] | None = None,
        root_map: Mapping[str, str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        allowed_roots: Iterable[str | os.PathLike[str]] | None = None,
        external_timeout: float = 5.0, external_max_bytes: int = DEFAULT_MAX_RESOURCE_BYTES,
        index: RunIndexer | None = None, frames: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        sample = SampleMetadata(sample) if isinstance(sample, str) else sample
        self._index = index
        self._runs = OpenRuns()
        self._external = ExternalRouting(ExternalResolver(
            handler_registry, root_map=root_map, base_dir=base_dir,
            allowed_roots=allowed_roots, timeout=external_timeout,
            max_read_bytes=external_max_bytes), inline_limit=inline_limit)
        self._storage = BeamtimeStorage(
            db_path, runs=self._runs, index=index,
            zarr_store=zarr_store if frames is None else frames,
            options={"sample": sample, "commit_every": commit_every,
                     "commit_interval": commit_interval, "codec": codec, "threaded": threaded})
        self._detector = DetectorDocuments(self._runs, Unplaced(), self._external, self._storage)
        self._documents = RunDocuments(
            self._runs, self._storage, self._detector, self._external,
            inline_limit=inline_limit, default_sample=sample, index=index)
        self._closed = False
        self._plain_events = type(self).event is RunWriterCallback.event
        self._counts_at_close: WriteCounts | None = None
        atexit.register(close_at_exit, weakref.ref(self))

    @property
    def db_path(self) -> Path:
        """The beamtime the runs go to now (beside the first one after a storage failure)."""
        return self._storage.db_path

    @overload
    def __call__(self, name: str, doc: dict[str, object], validate: bool = False
                 ) -> tuple[str, dict[str, object]]: ...

    @overload
    def __call__(self, name: str, doc: object, validate: bool = False) -> tuple[str, object]: ...

    def __call__(self, name: str, doc: object, validate: bool = False) -> tuple[str, object]:
        """Route one document; never raises for a bad document, only for storage failures.

        :class:`event_model.DocumentRouter` dispatches to the method named after the
        document (an event straight to :meth:`event`, the same call) and unpacks
        ``event_page`` and ``datum_page`` into :meth:`event` and :meth:`datum` calls.
        ``doc`` is whatever arrived (a service hands on what it decoded): anything but
        a dict is rejected and handed back as it came.
        """
        if self._closed:
            raise StorageError(f"RunWriterCallback for {self.db_path} is closed")
        storage = self._storage
        if not storage.admit(name, doc):
            return name, doc
        try:
            if name == "event" and not validate and type(doc) is dict and self._plain_events:
                return name, self.event(cast(em.Event, doc))  # as DocumentRouter dispatches
            if name not in _HANDLED:
                raise DocumentError(f"unknown document name {name!r}")
            if not isinstance(doc, dict):
                raise DocumentError(f"document is a {type(doc).__name__}, not a dict")
            if name != "event" and name != "event_page":  # events: captured in event()
                doc = capture(doc)  # what was emitted now, whatever a later subscriber does
            return super().__call__(name, doc, validate)
        except (StorageError, BeamtimeDatabaseError) as exc:
            storage.failed(exc, doc)
            raise
        except Exception as exc:  # a bad document: keep it, never raise into the scan
            self.record_rejected(name, doc, reason(exc))
        return name, doc

    def record_rejected(self, name: str, content: object, reason: str,
                        run_uid: str | None = None) -> None:
        """Keep ``content`` in ``rejected_documents`` as ``name``, as a bad document is kept.

        For what never became a stored document: a damaged line of a replayed
        file, a message a service could not read or route. Stored in order with
        the documents, once across sessions, and logged as one warning line.

        Parameters
        ----------
        name : str
            What it is (a document name, ``"damaged"``, ``"message"``, ...).
        content : object
            What is kept of it: a dict, kept whole; anything else as its ``repr``.
        reason : str
            Why it was not stored as it came.
        run_uid : str or None, optional
            Its run, if known; else found from the document's references.
        """
        self._storage.reject(name, content, reason, run_uid)

    # -- documents: each to its collaborator (DocumentRouter dispatches by name) ------

    def start(self, doc: em.RunStart) -> None:
        """Open a run: plan name, the whole start document, its uid, time and sample."""
        self._documents.start(doc)

    def descriptor(self, doc: em.EventDescriptor) -> None:
        """Open a stream; decide storage for each data key."""
        self._documents.descriptor(doc)

    def event(self, doc: em.Event) -> em.Event:
        """Store one event's values inline and its frames in Zarr; pass it on as it came."""
        self._documents.event(doc)
        return doc

    def event_page(self, doc: em.EventPage) -> em.EventPage:
        """Store each event of a page (one of unequal columns is rejected whole)."""
        self._documents.event_page(doc)
        return doc

    def stop(self, doc: em.RunStop) -> None:
        """Close the run with the mapped exit status, keep the stop document, and drain."""
        self._documents.stop(doc)

    def resource(self, doc: em.Resource) -> None:
        """Keep a resource document; its datums' files are read into the store."""
        self._detector.resource(doc)

    def datum(self, doc: em.Datum) -> em.Datum:
        """Keep a datum document; events holding its id get its array as a frame."""
        self._detector.datum(doc)
        return doc

    def stream_resource(self, doc: em.StreamResource) -> None:
        """Keep a stream_resource document; its stream_datums are read into the store."""
        self._detector.stream_resource(doc)

    def stream_datum(self, doc: em.StreamDatum) -> None:
        """Keep a stream_datum document and read the events' data it refers to."""
        self._detector.stream_datum(doc)

    # -- lifetime ------------------------------------------------------------------------

    def flush(self) -> None:
        """Wait until everything received so far is written and committed.

        What that guarantees: :mod:`resonance_callback.store._batch`.
        """
        self._storage.sink.drain()

    def write_counts(self) -> WriteCounts:
        """What the beamtime holds, and what this callback skipped and rejected.

        Waits until everything received so far is written. After :meth:`close`,
        the counts as they were at close.

        Returns
        -------
        WriteCounts
            The database's rows; runs resumed, documents found already
            stored, and documents rejected by this callback.
        """
        if self._closed:
            if self._counts_at_close is None:
                raise StorageError(f"RunWriterCallback for {self.db_path} closed with an error")
            return self._counts_at_close
        return write_counts(self._storage)

    def close(self) -> None:
        """Write everything received, then close the database. Safe to call twice.

        Runs still open (no stop document yet) stay open in the database, with
        ``exit_status`` NULL, exactly as after a crash; their detector frames not
        read yet get one last bounded try, then go to ``unresolved_frames``.
        Resources without ``run_start`` that no run used are kept in
        ``external_documents`` without a run. After a storage failure that left
        nothing to write to (reported when it happened), nothing more is written.
        """
        if self._closed:
            return
        self._closed = True
        self._counts_at_close = close_storage(self._storage, self._runs, self._detector.unplaced,
                                              self._external, self._index)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
