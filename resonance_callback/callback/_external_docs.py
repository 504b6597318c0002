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
from typing import Any

from resonance_callback.callback._external import ExternalRouting
from resonance_callback.callback._external_refs import check_stream_datum
from resonance_callback.callback._jobs import Job
from resonance_callback.callback._recovery import BeamtimeStorage
from resonance_callback.callback._runs import OpenRuns, Run, Unplaced, require
from resonance_callback.errors import DocumentError
from resonance_callback.store import ExternalRow, RowWriter

__all__ = ["DetectorDocuments"]


class DetectorDocuments:
    """``resource``, ``datum``, ``stream_resource``, ``stream_datum``, into jobs for the writer.

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

    def _keep_external(self, name: str, doc: dict[str, Any], uid_key: str,
                       run: Run | None = None, **extra: Any) -> None:
        """Keep the document for provenance, then hand it to the external routing."""
        run = run or self._runs.of(doc)
        assert run is not None
        if name in ("resource", "stream_resource"):
            self._runs.add_resource(run, doc[uid_key])
        route = getattr(self._external, name)

        def keep(w: RowWriter) -> None:
            w.records.record_external(ExternalRow(name, doc[uid_key], run.uid, doc))
            route(w, doc, run, **extra)

        self._storage.submit(Job(keep, name, doc, run.uid))

    def _unplaced_run(self, name: str, doc: dict[str, Any]) -> Run | None:
        """The run of a (stream) resource naming no ``run_start``; None if it is held.

        With one run open, that run; with several, the resource is held until
        an event or stream_datum uses it (:class:`Unplaced`).
        """
        open_runs = list(self._runs.runs.values())
        if len(open_runs) == 1:
            return open_runs[0]
        if not open_runs:
            raise DocumentError(f"{name} {doc['uid']} names no run_start and no run is open")
        self.unplaced.hold(name, doc, doc["uid"])
        return None

    def place_held(self, run: Run, references: list[Any]) -> None:
        """Give ``run`` the held resources (and their datums) that ``references`` name."""
        for name, doc in self.unplaced.claim(references):
            self._keep_external(name, doc, "datum_id" if name == "datum" else "uid", run=run)

    def resource(self, doc: dict[str, Any]) -> None:
        """Keep a resource document; its datums' files are read into the store."""
        require(doc, "uid", "spec")
        run = None
        if "run_start" not in doc:  # optional in the schema; older ophyd leaves it out
            run = self._unplaced_run("resource", doc)
            if run is None:
                return
        self._keep_external("resource", doc, "uid", run=run)

    def datum(self, doc: dict[str, Any]) -> None:
        """Keep a datum document; events holding its id get its array as a frame."""
        require(doc, "datum_id", "resource")
        if self.unplaced.holds(doc["resource"]):
            self.unplaced.hold("datum", doc, doc["resource"])
            return
        self._keep_external("datum", doc, "datum_id")

    def stream_resource(self, doc: dict[str, Any]) -> None:
        """Keep a stream_resource document; its stream_datums are read into the store."""
        require(doc, "uid")
        run = None
        if "run_start" not in doc:
            run = self._unplaced_run("stream_resource", doc)
            if run is None:
                return
        self._keep_external("stream_resource", doc, "uid", run=run)

    def stream_datum(self, doc: dict[str, Any]) -> None:
        """Keep a stream_datum document and read the events' data it refers to."""
        require(doc, "uid", "stream_resource", "descriptor", "indices", "seq_nums")
        if self.unplaced.holds(doc["stream_resource"]):
            self.place_held(self._runs.of({"descriptor": doc["descriptor"]}),  # type: ignore[arg-type]
                             [doc["stream_resource"]])
        run = self._runs.of({"stream_resource": doc["stream_resource"]})
        assert run is not None
        plan = check_stream_datum(doc, run.plans)
        self._keep_external("stream_datum", doc, "uid", plan=plan, received=time.time())
