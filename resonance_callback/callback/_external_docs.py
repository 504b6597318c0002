"""The callback's methods for detector-file documents: resources, datums, stream ones.

:class:`DetectorDocuments` is a collaborator of
:class:`~resonance_callback.callback.RunWriterCallback`, whose document methods
(:class:`event_model.DocumentRouter` dispatches to them) hand it these
documents. Each document is kept in
``external_documents`` and handed to :class:`~._external.ExternalRouting` on the
writer thread.

A ``resource`` or ``stream_resource`` without ``run_start`` (optional in
event-model's schema) belongs to the one open run; with several open, it is
held (with its datums) until an event or ``stream_datum`` uses it
(:class:`~._runs.Unplaced`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from event_model.documents import Datum, Resource, StreamDatum, StreamResource

from resonance_callback.callback._external import ExternalRouting
from resonance_callback.callback._external_refs import check_stream_datum
from resonance_callback.callback._jobs import Job
from resonance_callback.callback._recovery import BeamtimeStorage
from resonance_callback.callback._runs import HeldDocument, OpenRuns, Run, Unplaced, require
from resonance_callback.errors import DocumentError
from resonance_callback.store import ExternalRow, RowWriter

__all__ = ["DetectorDocuments"]


class DetectorDocuments:
    """``resource``, ``datum``, ``stream_resource``, ``stream_datum``, into jobs for the writer.

    Each method takes event-model's document, unvalidated: it checks the keys
    it reads (:func:`~._runs.require`); one that fails is kept as rejected.

    Parameters
    ----------
    runs : OpenRuns
        The callback's open runs.
    unplaced : Unplaced
        Resources without ``run_start`` held while several runs were open.
    external : ExternalRouting
        Reads detector files on the writer thread.
    storage : BeamtimeStorage
        Where the jobs go.
    """

    def __init__(self, runs: OpenRuns, unplaced: Unplaced, external: ExternalRouting,
                 storage: BeamtimeStorage) -> None:
        self._runs = runs
        self.unplaced = unplaced
        self._external = external
        self._storage = storage

    def _keep(self, name: str, doc: Resource | Datum | StreamResource | StreamDatum, uid: str,
              run: Run, route: Callable[[RowWriter], None]) -> None:
        """Keep the document for provenance, then ``route(writer)`` it on the writer thread.

        ``uid`` is the document's (``datum_id`` for a datum); ``route`` hands
        it to the external routing.
        """
        if name in ("resource", "stream_resource"):
            self._runs.add_resource(run, uid)

        def keep(w: RowWriter) -> None:
            w.records.record_external(ExternalRow(name, uid, run.uid, doc))
            route(w)

        self._storage.submit(Job(keep, name, doc, run.uid))

    def _keep_resource(self, doc: Resource, run: Run) -> None:
        external = self._external
        self._keep("resource", doc, doc["uid"], run, lambda w: external.resource(w, doc, run))

    def _keep_datum(self, doc: Datum, run: Run) -> None:
        external = self._external
        self._keep("datum", doc, doc["datum_id"], run, lambda w: external.datum(w, doc, run))

    def _keep_stream_resource(self, doc: StreamResource, run: Run) -> None:
        external = self._external
        self._keep("stream_resource", doc, doc["uid"], run,
                   lambda w: external.stream_resource(w, doc, run))

    def _unplaced_run(self, held: HeldDocument) -> Run | None:
        """The run of a (stream) resource naming no ``run_start``; None if it is held.

        With one run open, that run; with several, the resource is held until
        an event or stream_datum uses it (:class:`Unplaced`).
        """
        open_runs = list(self._runs.runs.values())
        if len(open_runs) == 1:
            return open_runs[0]
        if not open_runs:
            raise DocumentError(f"{held.name} {held.uid} names no run_start and no run is open")
        self.unplaced.hold(held.uid, held)
        return None

    def place_held(self, run: Run, references: list[object]) -> None:
        """Give ``run`` the held resources (and their datums) that ``references`` name."""
        for held in self.unplaced.claim(references):
            held.place(run)

    def resource(self, doc: Resource) -> None:
        """Keep a resource document; its datums' files are read into the store."""
        require(doc, "uid", "spec")
        if "run_start" not in doc:  # optional in the schema; older ophyd leaves it out
            run = self._unplaced_run(HeldDocument(
                "resource", doc, doc["uid"], lambda r: self._keep_resource(doc, r)))
            if run is None:
                return
        else:
            run = self._runs.of(doc)
        self._keep_resource(doc, run)

    def datum(self, doc: Datum) -> None:
        """Keep a datum document; events holding its id get its array as a frame."""
        require(doc, "datum_id", "resource")
        if self.unplaced.holds(doc["resource"]):
            self.unplaced.hold(doc["resource"], HeldDocument(
                "datum", doc, doc["datum_id"], lambda r: self._keep_datum(doc, r)))
            return
        self._keep_datum(doc, self._runs.of(doc))

    def stream_resource(self, doc: StreamResource) -> None:
        """Keep a stream_resource document; its stream_datums are read into the store."""
        require(doc, "uid")
        if "run_start" not in doc:
            run = self._unplaced_run(HeldDocument(
                "stream_resource", doc, doc["uid"],
                lambda r: self._keep_stream_resource(doc, r)))
            if run is None:
                return
        else:
            run = self._runs.of(doc)
        self._keep_stream_resource(doc, run)

    def stream_datum(self, doc: StreamDatum) -> None:
        """Keep a stream_datum document and read the events' data it refers to."""
        require(doc, "uid", "stream_resource", "descriptor", "indices", "seq_nums")
        if self.unplaced.holds(doc["stream_resource"]):
            self.place_held(self._runs.of({"descriptor": doc["descriptor"]}),
                            [doc["stream_resource"]])
        plan = check_stream_datum(doc, self._runs.of(
            {"stream_resource": doc["stream_resource"]}).plans)
        received = time.time()
        run = self._runs.of(doc)
        external = self._external
        self._keep("stream_datum", doc, doc["uid"], run, lambda w: external.stream_datum(
            w, doc, run, plan=plan, received=received))
