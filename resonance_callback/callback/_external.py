"""Detector files into the beamtime: the callback's per-run external-data logic.

:class:`ExternalRouting` turns ``resource``/``datum`` and
``stream_resource``/``stream_datum`` documents, and the datum ids events
carry, into frames in the Zarr store (through an
:class:`~resonance_callback.external.ExternalResolver`), so a run reads back
without the detector's files. Its methods run on the writer thread (they are
called from the callback's jobs), so files are opened and read there, never on
the RunEngine's thread; the resolver is used by that one thread only.

Where the data goes
-------------------
* ophyd (v1): the event keeps the datum id in ``events.data`` (the reference
  as it came, with its ``filled`` map), and the array the datum resolves to
  goes to ``runs/{run}/{stream}/{field}`` with an ``image_refs`` row for the
  event, whatever its shape.
* ophyd-async: each event of a ``stream_datum`` range gets the per-event array
  in the shape its descriptor declares, as TiledWriter reads it with the stream
  resource's parameters (``[1, H, W]`` stays ``[1, H, W]``; with
  ``multiplier=m`` it is ``[m, H, W]``; with ``join_method="concat"`` ``[H, W]``).
  ``application/octet-stream`` bytes always go to Zarr as ``uint8``.
  Arrays of two or more dimensions, or longer than ``inline_limit``, go to
  Zarr with an ``image_refs`` row; smaller ones (``det-sum``) go into
  ``events.data``. The events row of each ``seq_num`` is found, or created
  marked ``derived = 1`` (fly scans have no event documents); an event
  arriving later takes that row over (see
  :meth:`~resonance_callback.store.RunWriter.claim_derived_event`).

Waiting and failures
--------------------
A reference is read once, without waiting, when it arrives. One not readable
yet is kept pending (per stream and key, oldest first); pending ones are
retried without waiting whenever another reference of the same key arrives,
and at the run's ``stop`` with waiting: all pending references of a run share
one deadline of ``timeout`` seconds, so a stop never waits much longer than
that. A reference still unreadable then, a refused one (``..``, a foreign
scheme or host, outside ``allowed_roots``, no handler for its spec; at read
time a real path outside the roots, a special file, an HDF5 external link or
virtual dataset, more bytes than the read bound or than its resource may read in
total; a malformed template, ``chunk_shape``, ``frame_per_point``, ``slice`` or
index; a parameter TiledWriter does not read, named), or one
whose array does not fit the field's array is recorded in
``unresolved_frames`` with the reason; nothing is dropped silently. A refused
``resource``/``stream_resource`` is also kept in ``rejected_documents``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from event_model.documents import Datum, Event, Resource, StreamDatum, StreamResource

from resonance_callback.callback._external_read import ReferenceReader
from resonance_callback.callback._external_refs import (
    Item,
    describe,
    external_refs,
    has_stream_keys,
)
from resonance_callback.callback._jobs import reject
from resonance_callback.callback._plan import Split, StreamPlan
from resonance_callback.errors import (
    DocumentError,
    ExternalDataError,
)
from resonance_callback.external import ExternalResolver
from resonance_callback.store import event_row

if TYPE_CHECKING:
    from resonance_callback.callback._runs import Run
    from resonance_callback.store import RowWriter

__all__ = ["ExternalRouting"]

log = logging.getLogger("resonance_callback")

#: What registering a malformed resource or datum raises besides ExternalDataError.
_MALFORMED = (ExternalDataError, KeyError, TypeError, ValueError)


class ExternalRouting:
    """Read the detector files of each run into the store; see the module documentation.

    Parameters
    ----------
    resolver : ExternalResolver
        Configured with the handler registry, ``root_map``, ``base_dir``,
        ``allowed_roots`` and ``timeout`` (the bounded wait at ``stop``).
    inline_limit : int, optional
        Per-event stream arrays with more elements than this go to Zarr.
    """

    def __init__(self, resolver: ExternalResolver, *, inline_limit: int = 1024) -> None:
        self.resolver = resolver
        self.inline_limit = inline_limit
        self.reader = ReferenceReader(resolver, inline_limit)

    # -- events (built on the caller's thread, run on the writer thread) ---------------

    def event_job(self, plan: StreamPlan, doc: Event, split: Split,
                  run: Run) -> Callable[[RowWriter], None] | None:
        """Return the job writing an event with detector-file data, or None if it has none.

        Called on the caller's thread; touches no state of its own. The job
        writes the event (taking over the row a ``stream_datum`` made for its
        ``seq_num``, if any), its inline frames, then reads the datum ids it
        holds into frames.
        """
        refs = external_refs(plan, split)
        streamed = has_stream_keys(plan)
        if not refs and not streamed:
            return None

        def write(w: RowWriter) -> None:
            with w.atomic():  # a reader sees the event with the frames read now, or neither
                self._write_event(w, doc, split, refs, streamed, run, plan)

        return write

    def _write_event(self, w: RowWriter, doc: Event, split: Split,
                     refs: dict[str, str], streamed: bool, run: Run,
                     plan: StreamPlan) -> None:
        """The event row (or the derived row it takes over), its frames, its datums' frames."""
        stamps = doc.get("timestamps") or {}
        inline_ts = {k: v for k, v in stamps.items() if k not in split.frames}
        uid = doc["uid"]
        if streamed and w.derived.claim_derived_event(
                doc["descriptor"], doc["seq_num"], uid=uid, time=doc["time"],
                data=split.inline, timestamps=inline_ts, filled=doc.get("filled") or None):
            for key, frame in split.frames.items():
                w.write_image(uid, key, frame, timestamp=stamps.get(key),
                              stream_uid=doc["descriptor"], seq_num=doc["seq_num"])
        else:  # the one write path of events: the row with its frames
            row = event_row(doc, split.inline, inline_ts, split.frames, stamps)
            for refusal in w.write_events([row]):
                if not refusal.stored:
                    raise DocumentError(refusal.reason)
                reject(w, "event", doc, refusal.reason, run.uid)  # stored without a value
        if refs and not w.already_stored(uid):  # a replayed event has its frames
            self.fill_event(w, run, doc, refs, plan)

    # -- documents (called on the writer thread) -------------------------------------

    def resource(self, w: RowWriter, doc: Resource, run: Run) -> None:
        """Register a resource; a refused one is kept in ``rejected_documents``."""
        try:
            self.resolver.add_resource(doc, run_start=run.uid)
        except _MALFORMED as exc:
            self._refuse(w, "resource", doc, run, describe(exc))

    def datum(self, w: RowWriter, doc: Datum, run: Run) -> None:
        """Register a datum (its resource's refusal, if any, carries over)."""
        state = run.external
        refused = state.refused.get(doc["resource"])
        if refused is not None:
            reason = f"resource {doc['resource']} was refused: {refused}"
        else:
            try:
                self.resolver.add_datum(doc)
                return
            except _MALFORMED as exc:
                reason = describe(exc)
        state.refused_datums[doc["datum_id"]] = reason

    def stream_resource(self, w: RowWriter, doc: StreamResource, run: Run) -> None:
        """Register a stream resource; a refused one is kept in ``rejected_documents``."""
        run.external.stream_keys[doc["uid"]] = str(doc.get("data_key"))
        try:
            self.resolver.add_stream_resource(doc, run_start=run.uid)
        except _MALFORMED as exc:
            self._refuse(w, "stream_resource", doc, run, describe(exc))

    def _refuse(self, w: RowWriter, name: str, doc: Resource | StreamResource, run: Run,
                reason: str) -> None:
        run.external.refused[doc["uid"]] = reason
        reject(w, name, doc, f"refused: {reason}", run.uid)

    def stream_datum(self, w: RowWriter, doc: StreamDatum, run: Run, *,
                     plan: StreamPlan, received: float) -> None:
        """Make sure each event of the range has a row, then read (or keep pending) its data."""
        if w.already_stored(doc["uid"]):  # replayed: its rows and frames are stored
            return
        state = run.external
        key = state.stream_keys.get(doc["stream_resource"])
        if key is None:
            raise DocumentError(f"stream_datum {doc['uid']}: stream_resource "
                                f"{doc['stream_resource']} was not stored")
        data_key = plan.data_keys.get(key)
        item = Item(doc["descriptor"], key, doc["uid"],
                     range(doc["seq_nums"]["start"], doc["seq_nums"]["stop"]),
                     doc=doc, received=received,
                     shape=data_key.get("shape") if isinstance(data_key, dict) else None)
        for seq_num in item.seq_nums:
            w.derived.event_at(item.stream_uid, seq_num, time=received)
        reason = state.refused.get(doc["stream_resource"])
        if reason is not None:
            reason = f"stream_resource {doc['stream_resource']} was refused: {reason}"
        elif item.shape is None:
            reason = f"descriptor {item.stream_uid} declares no shape for key {key!r}"
        if reason is not None:
            self.reader.unresolved(w, run, item, reason)
        else:
            self.reader.offer(w, run, item)

    def fill_event(self, w: RowWriter, run: Run, doc: Event,
                   refs: dict[str, str], plan: StreamPlan | None = None) -> None:
        """Read (or keep pending) the array of each datum id an event carries.

        Each array is fitted to the per-event shape the descriptor declares for
        its key (``plan``), never reshaped: one that does not fit is recorded in
        ``unresolved_frames`` with both shapes.
        """
        state = run.external
        stamps = doc.get("timestamps") or {}
        for key, datum_id in refs.items():
            declared = (plan.data_keys.get(key) or {}) if plan is not None else {}
            item = Item(doc["descriptor"], key, datum_id,
                         range(doc["seq_num"], doc["seq_num"] + 1),
                         event_uid=doc["uid"], timestamp=stamps.get(key),
                         shape=declared.get("shape") if isinstance(declared, dict) else None)
            reason = state.refused_datums.get(datum_id)
            if reason is not None:
                self.reader.unresolved(w, run, item, reason)
            else:
                self.reader.offer(w, run, item)

    def finish(self, w: RowWriter, run: Run) -> None:
        """Retry every pending reference of a run within one shared deadline, then forget it.

        Called before the run is closed; a reference still unreadable is
        recorded in ``unresolved_frames``.
        """
        state = run.external
        try:
            deadline = time.monotonic() + self.resolver.timeout
            for queue in state.pending.values():
                while queue:
                    item = queue.popleft()
                    wait = max(0.0, deadline - time.monotonic())
                    self.reader.attempt(w, run, item, wait=wait, final=True)
        finally:
            self.resolver.forget_run(run.uid)
