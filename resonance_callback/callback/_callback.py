"""``RunWriterCallback``: Bluesky documents in, typed rows for the beamtime store out.

:class:`event_model.DocumentRouter` dispatches each document to the method
named after it (unpacking event and datum pages). Each method translates its
document into a row of :mod:`resonance_callback.store` (``RunRow``,
``StreamRow``, ``EventRow``, ``StopRow``, ...) on the caller's thread (the
RunEngine's); the writer stores the rows in order on a background
:class:`~resonance_callback.callback._worker.WriterThread`. Per-run state lives
in a :class:`~resonance_callback.callback._runs.Run`, created at ``start`` and
dropped at ``stop``; the storage plan of each descriptor is decided once
(:mod:`~resonance_callback.callback._plan`).

Detector files (``resource``/``datum``, ``stream_resource``/``stream_datum``)
are read into the Zarr store by :mod:`~resonance_callback.callback._external`,
also on the writer thread.

A document that cannot be stored as it came never raises into the scan: it is
kept in ``rejected_documents`` with the reason and logged as one warning line,
alone (the rest of its batch and its run go on). Storage failures (disk full,
unwritable path, corrupt database, the database or Zarr store deleted) do raise
into the scan in flight, with the path in the message; the next ``start`` reopens
the beamtime, at its path or beside it (:mod:`~resonance_callback.callback._recovery`).

Documents of a run an earlier session already stored (a saved stream replayed
again) are compared with the stored rows: identical ones are skipped, different
ones rejected (:class:`~resonance_callback.store.IdempotentConflicts`).
"""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import event_model
import numpy as np

from resonance_callback.callback._capture import (
    IMMUTABLE,
    capture,
    capture_event,
    own_data,
    own_values,
)
from resonance_callback.callback._copies import FrameCopies
from resonance_callback.callback._external import ExternalRouting
from resonance_callback.callback._external_docs import DetectorDocuments
from resonance_callback.callback._left_out import open_run, open_stream
from resonance_callback.callback._lifetime import CallbackLifetime, close_at_exit
from resonance_callback.callback._plan import INLINE_LIMIT, StreamPlan
from resonance_callback.callback._recovery import StorageRecovery
from resonance_callback.callback._runs import (
    OpenRuns,
    Run,
    Unplaced,
    check_page,
    require,
    require_str,
)
from resonance_callback.callback._translate import run_row, stop_row, stream_row
from resonance_callback.callback._worker import EventJob, Job, reject
from resonance_callback.errors import BeamtimeDatabaseError, DocumentError, StorageError
from resonance_callback.external import (
    DEFAULT_MAX_RESOURCE_BYTES,
    ExternalResolver,
    HandlerClass,
)
from resonance_callback.index import RunIndexer
from resonance_callback.store import (
    DEFAULT_CODEC,
    EventRow,
    SampleMetadata,
    WriteCounts,
)

__all__ = ["RunWriterCallback"]

log = logging.getLogger("resonance_callback")


class RunWriterCallback(StorageRecovery, CallbackLifetime, DetectorDocuments):
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
    zarr_store : path or zarr store, optional
        Where frames go instead of the default.
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
        self,
        db_path: Path | str,
        *,
        sample: SampleMetadata | str | None = None,
        commit_every: int = 1000,
        commit_interval: float = 0.5,
        codec: str = DEFAULT_CODEC,
        inline_limit: int = INLINE_LIMIT,
        threaded: bool = True,
        zarr_store: Any = None,
        handler_registry: Mapping[str, HandlerClass] | None = None,
        root_map: Mapping[str, str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        allowed_roots: Iterable[str | os.PathLike[str]] | None = None,
        external_timeout: float = 5.0,
        external_max_bytes: int = DEFAULT_MAX_RESOURCE_BYTES,
        index: RunIndexer | None = None,
    ) -> None:
        super().__init__()
        if isinstance(sample, str):
            sample = SampleMetadata(sample)
        self._default_sample = sample
        self._inline_limit = inline_limit
        self._index = index
        self._external = ExternalRouting(ExternalResolver(
            handler_registry, root_map=root_map, base_dir=base_dir,
            allowed_roots=allowed_roots, timeout=external_timeout,
            max_read_bytes=external_max_bytes), inline_limit=inline_limit)
        self._open_storage(db_path, sample=sample, commit_every=commit_every,
                           commit_interval=commit_interval, codec=codec, zarr_store=zarr_store,
                           threaded=threaded)
        self._runs = OpenRuns()
        self._copies = FrameCopies()  # frames copied on this thread, buffers reused
        self._unplaced = Unplaced()
        self._closed = False
        self._counts_at_close: WriteCounts | None = None
        atexit.register(close_at_exit, weakref.ref(self))

    # -- the document entry point ---------------------------------------------

    def __call__(self, name: str, doc: dict[str, Any], validate: bool = False
                 ) -> tuple[str, dict[str, Any]]:
        """Route one document; never raises for a bad document, only for storage failures.

        :class:`event_model.DocumentRouter` dispatches to the method named after
        the document and unpacks ``event_page`` and ``datum_page`` into
        :meth:`event` and :meth:`datum` calls.
        """
        if self._closed:
            raise StorageError(f"RunWriterCallback for {self.db_path} is closed")
        if name == "start":
            self._storage_at_start(doc)  # after a storage failure: reopen the beamtime
        elif (self._gone or self._lost) and self._dropped(name, doc):
            return name, doc  # of a run lost at a storage failure, reported then
        try:
            self._sink.raise_pending()
        except (StorageError, BeamtimeDatabaseError) as exc:
            self._storage_failed(exc, doc)
            raise
        try:
            if name not in _HANDLED:
                raise DocumentError(f"unknown document name {name!r}")
            if not isinstance(doc, dict):
                raise DocumentError(f"document is a {type(doc).__name__}, not a dict")
            if name != "event" and name != "event_page":  # events: captured in event()
                doc = capture(doc)  # what was emitted now, whatever a later subscriber does
            return super().__call__(name, doc, validate)
        except (StorageError, BeamtimeDatabaseError) as exc:
            self._storage_failed(exc, doc)
            raise
        except Exception as exc:  # a bad document: keep it, never raise into the scan
            self._reject(name, doc, _reason(exc))
        return name, doc

    def _reject(self, name: str, doc: Any, reason: str, run_uid: str | None = None) -> None:
        if run_uid is None and isinstance(doc, dict):
            try:
                run_uid = self._runs.uid_of(doc)
            except Exception:  # noqa: BLE001 - a document too odd to place: kept without a run
                run_uid = None
        self._sink.submit(Job(lambda w: reject(w, name, doc, reason, run_uid), name, doc, run_uid))

    def record_rejected(self, name: str, content: dict[str, Any], reason: str) -> None:
        """Keep ``content`` in ``rejected_documents`` as ``name``, as a bad document is kept.

        For input that never became a document, such as a damaged line of a
        replayed file: stored in order with the documents, once across
        sessions, and logged as one warning line.
        """
        self._reject(name, content, reason)

    def _submit(self, run: Run | None, name: str, doc: dict[str, Any], fn: Any) -> None:
        self._sink.submit(Job(fn, name, doc, run.uid if run else None))

    # -- documents ----------------------------------------------------------------
    # DocumentRouter types each method with event-model's TypedDicts; documents
    # arrive here unvalidated (a malformed one is rejected, never raised), so they
    # are plain dicts, and each method checks the keys it reads.

    def start(self, doc: dict[str, Any]) -> None:  # type: ignore[override]
        """Open a run: plan name, the whole start document, its uid, time and sample."""
        require_str(doc, "uid")
        require(doc, "time")
        run = self._runs.start(doc)
        sample = SampleMetadata.from_start(doc.get("sample"), self._default_sample)
        row = run_row(doc, sample)
        self._submit(run, "start", doc, lambda w: open_run(w, row, doc))
        if self._index is not None:
            index = self._index
            self._submit(run, "start", doc, lambda w: index.run_started(doc, sample.name))
        self._runs.add(run)

    def descriptor(self, doc: dict[str, Any]) -> None:  # type: ignore[override]
        """Open a stream; decide storage for each data key."""
        require_str(doc, "uid", "run_start")
        require(doc, "data_keys")
        if type(doc.get("name", "")) is not str:
            raise DocumentError(f"name is a {type(doc['name']).__name__}, not a string")
        if type(doc["data_keys"]) is not dict:
            raise DocumentError(f"data_keys is a {type(doc['data_keys']).__name__}, not a dict")
        run = self._runs.of({"run_start": doc["run_start"]})
        assert run is not None
        self._runs.add_stream(run, doc["uid"], StreamPlan(doc["data_keys"], self._inline_limit,
                                                            self._copies))
        row = stream_row(doc, run.uid)
        self._submit(run, "descriptor", doc, lambda w: open_stream(w, row, doc))

    def event(self, doc: dict[str, Any]) -> None:  # type: ignore[override]
        """Store one event's values inline and its frames in Zarr."""
        if not ("uid" in doc and "descriptor" in doc and "data" in doc and "time" in doc
                and "seq_num" in doc):
            require(doc, "uid", "descriptor", "data", "time", "seq_num")
        try:
            run = self._runs.by_descriptor.get(doc["descriptor"])
        except TypeError:  # not a string: of() says so
            run = None
        if run is None:
            run = self._runs.of({"descriptor": doc["descriptor"]})
            assert run is not None
        plan = run.plans[doc["descriptor"]]
        data = doc["data"]
        if type(data) is not dict:
            raise DocumentError(f"data is a {type(data).__name__}, not a dict")
        stamps = doc.get("timestamps") or {}
        if type(stamps) is not dict:
            raise DocumentError(f"timestamps is a {type(stamps).__name__}, not a dict")
        if plan.all_inline:  # a scalar stream: nothing to split unless an array came
            mutable = False
            for value in data.values():
                if type(value) in IMMUTABLE:
                    continue
                if isinstance(value, np.ndarray) or (type(value) is list and value and (
                        len(value) > self._inline_limit or type(value[0]) is list)):
                    break
                mutable = True
            else:
                # Captured now (a later subscriber may change the dicts in place).
                values = own_values(dict(data)) if mutable else dict(data)
                doc = capture_event(doc, values, stamps)
                self._sink.submit(EventJob(EventRow(
                    doc["uid"], doc["descriptor"], doc["seq_num"], doc["time"], values,
                    doc.get("timestamps") or {}, doc.get("filled") or None), doc, run.uid))
                return
        split = plan.split(data)
        own_values(split.inline)  # frames are copies already
        doc = capture_event(doc, own_data(data, {**split.inline, **split.frames}), stamps)
        stamps = doc.get("timestamps") or {}
        if plan.has_external:  # datum ids to read, or rows made from stream_datum
            if self._unplaced.documents:  # resources without run_start this event uses
                self._place_held(run, list(data.values()))
            external = self._external.event_job(plan, doc, split, run.uid)
            if external is not None:
                self._submit(run, "event", doc, external)
                if split.problems:
                    self._reject("event", doc, "; ".join(split.problems), run.uid)
                return
        if split.frames:
            inline_ts = {k: v for k, v in stamps.items() if k not in split.frames}
        else:
            inline_ts = dict(stamps)
        # Plain data, no closure: the writer thread batches consecutive events.
        self._sink.submit(EventJob(EventRow(
            doc["uid"], doc["descriptor"], doc["seq_num"], doc["time"], split.inline, inline_ts,
            doc.get("filled") or None, split.frames, stamps), doc, run.uid))
        if split.problems:
            self._reject("event", doc, "; ".join(split.problems), run.uid)

    def event_page(self, doc: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        """Check the page's columns, then store each of its events as :meth:`event` does.

        A page whose columns differ in length is rejected whole; an event of a
        good page that cannot be stored is rejected alone.
        """
        check_page(doc)
        for event in event_model.unpack_event_page(doc):  # type: ignore[arg-type]
            try:
                self.event(event)
            except (StorageError, BeamtimeDatabaseError):
                raise
            except Exception as exc:  # that event alone is kept as rejected
                self._reject("event", event, _reason(exc))
        return doc

    def stop(self, doc: dict[str, Any]) -> None:  # type: ignore[override]
        """Close the run with the mapped exit status, keep the stop document, and drain."""
        require(doc, "uid")
        require_str(doc, "run_start")
        run = self._runs.of({"run_start": doc["run_start"]})
        assert run is not None
        row = stop_row(doc, run.uid)
        self._submit(run, "stop", doc, lambda w: self._external.finish(w, run.uid))
        self._submit(run, "stop", doc, lambda w: w.write_stop(row))
        if self._index is not None:
            index = self._index
            self._submit(run, "stop", doc, lambda w: index.run_stopped(doc))
        self._runs.stop(run)
        self._sink.drain()
        self._copies.clear()  # the run's frame buffers go with it


#: Documents routed here; ``event_page`` and ``datum_page`` are unpacked by DocumentRouter.
_HANDLED = frozenset({
    "start", "descriptor", "event", "event_page", "stop", "resource", "datum",
    "datum_page", "stream_resource", "stream_datum",
})


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, DocumentError) else f"{type(exc).__name__}: {exc}"
