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
  in the shape its descriptor declares (``[1, H, W]`` stays ``[1, H, W]``).
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
scheme or host, outside ``allowed_roots``, no handler for its spec), or one
whose array does not fit the field's array is recorded in
``unresolved_frames`` with the reason; nothing is dropped silently. A refused
``resource``/``stream_resource`` is also kept in ``rejected_documents``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

from resonance_callback.callback._plan import Split, Storage, StreamPlan, frozen
from resonance_callback.callback._worker import reject
from resonance_callback.errors import DocumentError, ExternalDataError, UnsafePathError
from resonance_callback.external import ExternalResolver
from resonance_callback.store import EventRow, UnresolvedRow

if TYPE_CHECKING:
    from resonance_callback.store import RunWriter

__all__ = ["ExternalRouting", "check_stream_datum", "external_refs", "has_stream_keys"]

log = logging.getLogger("resonance_callback")

#: What registering a malformed resource or datum raises besides ExternalDataError.
_MALFORMED = (ExternalDataError, KeyError, TypeError, ValueError)


def has_stream_keys(plan: StreamPlan) -> bool:
    """Return True if the descriptor has ophyd-async ``STREAM:`` keys (data from stream_datum)."""
    return any(str((dk or {}).get("external", "")).startswith("STREAM:")
               for dk in plan.data_keys.values() if isinstance(dk, dict))


def external_refs(plan: StreamPlan, split: Split) -> dict[str, str]:
    """Return ``{key: datum id}`` of an event's external keys holding a reference.

    The ids stay in ``split.inline`` (``events.data`` keeps the reference as it
    came). An external key holding an array of two or more dimensions instead
    (an event filled upstream) is moved to ``split.frames``.
    """
    refs: dict[str, str] = {}
    for key, plan_key in plan.keys.items():
        if plan_key.storage is not Storage.EXTERNAL or key not in split.inline:
            continue
        value = split.inline[key]
        if isinstance(value, str):
            refs[key] = value
        elif np.ndim(value) >= 2:
            split.frames[key] = frozen(split.inline.pop(key))
    return refs


def check_stream_datum(doc: dict[str, Any], plans: dict[str, StreamPlan]) -> StreamPlan:
    """Return the plan of a stream_datum's descriptor, after checking its ranges.

    Raises
    ------
    DocumentError
        The descriptor is unknown, or ``indices`` and ``seq_nums`` are not
        integer ranges of the same length.
    """
    plan = plans.get(doc["descriptor"])
    if plan is None:
        raise DocumentError(f"stream_datum {doc['uid']}: descriptor {doc['descriptor']} "
                            "is unknown")
    spans = []
    for name in ("indices", "seq_nums"):
        span = doc[name]
        start, stop = (span.get("start"), span.get("stop")) if isinstance(span, dict) else (
            None, None)
        if not (_natural(start) and _natural(stop)):
            raise DocumentError(f"stream_datum {doc['uid']}: {name} {span!r} is not a range")
        spans.append(stop - start)
    if spans[0] != spans[1] or spans[0] < 0:
        raise DocumentError(f"stream_datum {doc['uid']}: indices {doc['indices']} and "
                            f"seq_nums {doc['seq_nums']} do not describe the same events")
    return plan


def _natural(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass
class _Item:
    """One reference waiting to be read: a datum of one event, or one stream_datum."""

    stream_uid: str
    key: str
    reference: str  # datum id, or stream_datum uid
    seq_nums: range
    event_uid: str | None = None  # ophyd v1: the event holding the datum id
    timestamp: float | None = None
    doc: dict[str, Any] | None = None  # the stream_datum
    shape: list[Any] | None = None  # its key's declared per-event shape
    received: float | None = None


@dataclass
class _RunState:
    refused: dict[str, str] = field(default_factory=dict)  # (stream) resource uid -> reason
    refused_datums: dict[str, str] = field(default_factory=dict)  # datum id -> reason
    stream_keys: dict[str, str] = field(default_factory=dict)  # stream_resource uid -> data key
    pending: defaultdict[tuple[str, str], deque[_Item]] = field(
        default_factory=lambda: defaultdict(deque))


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
        self._runs: dict[str, _RunState] = {}

    def _state(self, run_uid: str) -> _RunState:
        return self._runs.setdefault(run_uid, _RunState())

    # -- events (built on the caller's thread, run on the writer thread) ---------------

    def event_job(self, plan: StreamPlan, doc: dict[str, Any], split: Split,
                  run_uid: str) -> Callable[[RunWriter], None] | None:
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
        stamps = doc.get("timestamps") or {}
        inline_ts = {k: v for k, v in stamps.items() if k not in split.frames}
        filled = doc.get("filled") or None

        def write(w: RunWriter) -> None:
            uid = doc["uid"]
            if streamed and w.claim_derived_event(
                    doc["descriptor"], doc["seq_num"], uid=uid, time=doc["time"],
                    data=split.inline, timestamps=inline_ts, filled=filled):
                for key, frame in split.frames.items():
                    w.write_image(uid, key, frame, timestamp=stamps.get(key))
            else:  # the one write path of events: the row with its frames
                row = EventRow(uid, doc["descriptor"], doc["seq_num"], doc["time"],
                               split.inline, inline_ts, filled, split.frames, stamps)
                for refusal in w.write_events([row]):
                    raise DocumentError(refusal.reason)
            if refs and not w.already_stored(uid):  # a replayed event has its frames
                self.fill_event(w, run_uid, doc, refs)

        return write

    # -- documents (called on the writer thread) -------------------------------------

    def resource(self, w: RunWriter, doc: dict[str, Any], run_uid: str) -> None:
        """Register a resource; a refused one is kept in ``rejected_documents``."""
        try:
            self.resolver.add_resource(doc, run_start=run_uid)
        except _MALFORMED as exc:
            self._refuse(w, "resource", doc, run_uid, _describe(exc))

    def datum(self, w: RunWriter, doc: dict[str, Any], run_uid: str) -> None:
        """Register a datum (its resource's refusal, if any, carries over)."""
        state = self._state(run_uid)
        refused = state.refused.get(doc["resource"])
        if refused is not None:
            reason = f"resource {doc['resource']} was refused: {refused}"
        else:
            try:
                self.resolver.add_datum(doc)
                return
            except _MALFORMED as exc:
                reason = _describe(exc)
        state.refused_datums[doc["datum_id"]] = reason

    def stream_resource(self, w: RunWriter, doc: dict[str, Any], run_uid: str) -> None:
        """Register a stream resource; a refused one is kept in ``rejected_documents``."""
        self._state(run_uid).stream_keys[doc["uid"]] = str(doc.get("data_key"))
        try:
            self.resolver.add_stream_resource(doc, run_start=run_uid)
        except _MALFORMED as exc:
            self._refuse(w, "stream_resource", doc, run_uid, _describe(exc))

    def _refuse(self, w: RunWriter, name: str, doc: dict[str, Any], run_uid: str,
                reason: str) -> None:
        self._state(run_uid).refused[doc["uid"]] = reason
        reject(w, name, doc, f"refused: {reason}", run_uid)

    def stream_datum(self, w: RunWriter, doc: dict[str, Any], run_uid: str, *,
                     plan: StreamPlan, received: float) -> None:
        """Make sure each event of the range has a row, then read (or keep pending) its data."""
        if w.already_stored(doc["uid"]):  # replayed: its rows and frames are stored
            return
        state = self._state(run_uid)
        key = state.stream_keys.get(doc["stream_resource"])
        if key is None:
            raise DocumentError(f"stream_datum {doc['uid']}: stream_resource "
                                f"{doc['stream_resource']} was not stored")
        data_key = plan.data_keys.get(key)
        item = _Item(doc["descriptor"], key, doc["uid"],
                     range(doc["seq_nums"]["start"], doc["seq_nums"]["stop"]),
                     doc=doc, received=received,
                     shape=data_key.get("shape") if isinstance(data_key, dict) else None)
        for seq_num in item.seq_nums:
            w.event_at(item.stream_uid, seq_num, time=received)
        reason = state.refused.get(doc["stream_resource"])
        if reason is not None:
            reason = f"stream_resource {doc['stream_resource']} was refused: {reason}"
        elif item.shape is None:
            reason = f"descriptor {item.stream_uid} declares no shape for key {key!r}"
        if reason is not None:
            self._unresolved(w, run_uid, item, reason)
        else:
            self._offer(w, run_uid, item)

    def fill_event(self, w: RunWriter, run_uid: str, doc: dict[str, Any],
                   refs: dict[str, str]) -> None:
        """Read (or keep pending) the array of each datum id an event carries."""
        state = self._state(run_uid)
        stamps = doc.get("timestamps") or {}
        for key, datum_id in refs.items():
            item = _Item(doc["descriptor"], key, datum_id,
                         range(doc["seq_num"], doc["seq_num"] + 1),
                         event_uid=doc["uid"], timestamp=stamps.get(key))
            reason = state.refused_datums.get(datum_id)
            if reason is not None:
                self._unresolved(w, run_uid, item, reason)
            else:
                self._offer(w, run_uid, item)

    def finish(self, w: RunWriter, run_uid: str) -> None:
        """Retry every pending reference of a run within one shared deadline, then forget it.

        Called before the run is closed; a reference still unreadable is
        recorded in ``unresolved_frames``.
        """
        state = self._runs.pop(run_uid, None)
        try:
            if state is None:
                return
            deadline = time.monotonic() + self.resolver.timeout
            for queue in state.pending.values():
                while queue:
                    item = queue.popleft()
                    wait = max(0.0, deadline - time.monotonic())
                    self._attempt(w, run_uid, item, wait=wait, final=True)
        finally:
            self.resolver.forget_run(run_uid)

    # -- reading --------------------------------------------------------------------

    def _offer(self, w: RunWriter, run_uid: str, item: _Item) -> None:
        queue = self._state(run_uid).pending[(item.stream_uid, item.key)]
        while queue and self._attempt(w, run_uid, queue[0], wait=0.0):
            queue.popleft()
        if not self._attempt(w, run_uid, item, wait=0.0):
            queue.append(item)

    def _attempt(self, w: RunWriter, run_uid: str, item: _Item, *, wait: float,
                 final: bool = False) -> bool:
        """Read and store ``item``; False if it is not readable yet (and not ``final``)."""
        try:
            if item.doc is None:
                array = self.resolver.fill(item.reference, wait=wait)
            else:
                assert item.shape is not None
                array = self.resolver.read_stream_datum(item.doc, item.shape, wait=wait).array
        except UnsafePathError as exc:
            self._unresolved(w, run_uid, item, str(exc))
            return True
        except ExternalDataError as exc:
            if not final:
                return False
            timeout = self.resolver.timeout
            self._unresolved(w, run_uid, item,
                             f"not readable by the end of the run (waited up to {timeout:g} s): "
                             f"{exc}")
            return True
        self._store(w, run_uid, item, np.asarray(array))
        return True

    def _store(self, w: RunWriter, run_uid: str, item: _Item, array: np.ndarray) -> None:
        if array.dtype.hasobject:
            self._unresolved(w, run_uid, item, f"read {array.dtype} data, not numbers")
            return
        if item.doc is None:
            assert item.event_uid is not None
            try:
                w.write_image(item.event_uid, item.key, array, timestamp=item.timestamp)
            except DocumentError as exc:  # the array does not fit the field's array
                self._unresolved(w, run_uid, item, str(exc))
            return
        as_frames = array.ndim >= 3 or math.prod(array.shape[1:]) > self.inline_limit
        for offset, (row, seq_num) in enumerate(zip(array, item.seq_nums, strict=True)):
            try:
                event_uid = w.event_at(item.stream_uid, seq_num, time=item.received)
                if as_frames:
                    w.write_image(event_uid, item.key, row)
                else:
                    w.merge_event_data(event_uid, {item.key: row.tolist()})
            except DocumentError as exc:
                self._unresolved(w, run_uid, item, str(exc), only=offset)

    def _unresolved(self, w: RunWriter, run_uid: str, item: _Item, reason: str,
                    only: int | None = None) -> None:
        """Record the item's frames (or only its ``only``-th) in ``unresolved_frames``."""
        log.warning("detector data %s of key %r not stored: %s", item.reference, item.key, reason)
        offsets = range(len(item.seq_nums)) if only is None else (only,)
        for offset in offsets:
            reference = item.reference
            if item.doc is not None:
                index = item.doc["indices"]["start"] + offset
                reference = f"{item.doc['stream_resource']}[{index}]"
            w.record_unresolved(UnresolvedRow(item.key, reference, reason, run_uid=run_uid,
                                              stream_uid=item.stream_uid,
                                              seq_num=item.seq_nums[offset]))


def _describe(exc: BaseException) -> str:
    """An exception as a reason: its message, with the type when the message is bare."""
    if isinstance(exc, ExternalDataError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
