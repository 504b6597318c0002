"""The run documents into jobs for the writer: ``start``, ``descriptor``, ``event``, ``stop``.

:class:`RunDocuments` is a collaborator of
:class:`~resonance_callback.callback.RunWriterCallback`, whose document methods
(:class:`event_model.DocumentRouter` dispatches to them) hand it these
documents, on the caller's thread (the RunEngine's). Each is checked,
translated into a row of :mod:`resonance_callback.store` and handed to the
storage's sink as a job; an event's values are split from its frames by the
storage plan of its descriptor (:mod:`~resonance_callback.callback._plan`),
decided once. Per-run state lives in the run's
:class:`~resonance_callback.callback._runs.Run`.

Each method takes event-model's document (``RunStart``, ``EventDescriptor``,
``Event``, ``EventPage``, ``RunStop``), as the router's methods are typed, but
what arrives is unvalidated (a malformed one is rejected, never raised): each
method checks the keys it reads (:func:`~._runs.require`, which takes any
``Mapping[str, object]``) and the types of the values it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import event_model
import numpy as np
from event_model.documents import Event, EventDescriptor, EventPage, RunStart, RunStop

from resonance_callback.callback._capture import IMMUTABLE, capture_event, own_data, own_values
from resonance_callback.callback._copies import FrameCopies
from resonance_callback.callback._external import ExternalRouting
from resonance_callback.callback._external_docs import DetectorDocuments
from resonance_callback.callback._jobs import EventJob, Job
from resonance_callback.callback._left_out import open_run, open_stream
from resonance_callback.callback._plan import StreamPlan
from resonance_callback.callback._recovery import BeamtimeStorage
from resonance_callback.callback._runs import (
    OpenRuns,
    Run,
    Unplaced,
    check_page,
    require,
    require_str,
)
from resonance_callback.callback._summary import summary_job
from resonance_callback.errors import BeamtimeDatabaseError, DocumentError, StorageError
from resonance_callback.index import RunIndexer
from resonance_callback.store import (
    RowWriter,
    SampleMetadata,
    event_row,
    run_row,
    stop_row,
    stream_row,
)

__all__ = ["RunDocuments", "reason"]

def reason(exc: BaseException) -> str:
    """Why a document is rejected: the message of a :class:`DocumentError`, else with the type."""
    return str(exc) if isinstance(exc, DocumentError) else f"{type(exc).__name__}: {exc}"


class RunDocuments:
    """``start``, ``descriptor``, ``event``, ``event_page``, ``stop``; see the module documentation.

    Parameters
    ----------
    runs : OpenRuns
        The open runs (each with its :class:`Run`).
    storage : BeamtimeStorage
        Where the jobs go.
    detector : DetectorDocuments
        Gives an event's run the resources held without ``run_start``.
    external : ExternalRouting
        Builds the jobs of events with detector-file data.
    inline_limit : int
        1-D arrays longer than this are stored in Zarr.
    default_sample : SampleMetadata or None
        The sample of runs whose start names none.
    index : RunIndexer or None
        Told of each run's start and stop (on the writer thread).

    Attributes
    ----------
    copies : FrameCopies
        Frames copied on the caller's thread into buffers used again once
        written; emptied at every ``stop`` (the run's frame buffers go with it).
    """

    def __init__(self, runs: OpenRuns, storage: BeamtimeStorage, detector: DetectorDocuments,
                 external: ExternalRouting, *, inline_limit: int,
                 default_sample: SampleMetadata | None, index: RunIndexer | None) -> None:
        self._runs = runs
        self._storage = storage
        self._detector = detector
        self._unplaced: Unplaced = detector.unplaced
        self._external = external
        self._reject = storage.reject
        self._inline_limit = inline_limit
        self._default_sample = default_sample
        self._index = index
        self.copies = FrameCopies()

    def _submit(self, run: Run | None, name: str, doc: Mapping[str, object],
                fn: Callable[[RowWriter], Any]) -> None:
        self._storage.submit(Job(fn, name, doc, run.uid if run else None))

    def start(self, doc: RunStart) -> None:
        """Open a run: plan name, the whole start document, its uid, time and sample.

        An exported start document's carried sample (``SampleMetadata.carried_by``)
        is the run's sample; the start document is stored without it, as it was.
        """
        require_str(doc, "uid")
        require(doc, "time")
        doc, carried = SampleMetadata.carried_by(doc)
        run = self._runs.start(doc)
        sample = carried or SampleMetadata.from_start(doc.get("sample"), self._default_sample)
        row = run_row(doc, sample)
        self._submit(run, "start", doc, lambda w: open_run(w, row, doc))
        if self._index is not None:
            index = self._index
            self._submit(run, "start", doc, lambda w: index.run_started(doc, sample.name))
        self._runs.add(run)

    def descriptor(self, doc: EventDescriptor) -> None:
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
                                                            self.copies))
        row = stream_row(doc, run.uid)
        self._submit(run, "descriptor", doc, lambda w: open_stream(w, row, doc))

    def event(self, doc: Event) -> None:
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
                self._storage.submit(EventJob(event_row(
                    doc, values, doc.get("timestamps") or {}), doc, run.uid))
                return
        split = plan.split(data)
        own_values(split.inline)  # frames are copies already
        doc = capture_event(doc, own_data(data, {**split.inline, **split.frames}), stamps)
        stamps = doc.get("timestamps") or {}
        if plan.has_external:  # datum ids to read, or rows made from stream_datum
            if self._unplaced.documents:  # resources without run_start this event uses
                self._detector.place_held(run, list(data.values()))
            external = self._external.event_job(plan, doc, split, run)
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
        self._storage.submit(EventJob(event_row(
            doc, split.inline, inline_ts, split.frames, stamps), doc, run.uid))
        if split.problems:
            self._reject("event", doc, "; ".join(split.problems), run.uid)

    def event_page(self, doc: EventPage) -> None:
        """Check the page's columns, then store each of its events as :meth:`event` does.

        A page whose columns differ in length is rejected whole; an event of a
        good page that cannot be stored is rejected alone.
        """
        check_page(doc)
        for event in event_model.unpack_event_page(doc):
            try:
                self.event(event)
            except (StorageError, BeamtimeDatabaseError):
                raise
            except Exception as exc:  # that event alone is kept as rejected
                self._reject("event", event, reason(exc), None)

    def stop(self, doc: RunStop) -> None:
        """Close the run with the mapped exit status, keep the stop document, and drain."""
        require(doc, "uid")
        require_str(doc, "run_start")
        run = self._runs.of({"run_start": doc["run_start"]})
        assert run is not None
        row = stop_row(doc, run.uid)
        self._submit(run, "stop", doc, lambda w: self._external.finish(w, run))
        self._submit(run, "stop", doc, lambda w: w.write_stop(row))
        if self._index is not None:
            index = self._index
            self._submit(run, "stop", doc, lambda w: index.run_stopped(doc))
        summary = summary_job(dict(run.start), row)  # None unless its logger is on
        if summary is not None:
            self._submit(run, "stop", doc, summary)
        self._runs.stop(run)
        self._storage.sink.drain()
        self.copies.clear()  # the run's frame buffers go with it
