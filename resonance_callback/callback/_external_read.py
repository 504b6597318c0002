"""Reading detector references into the store: in arrival order, waiting only at ``stop``.

:class:`ReferenceReader` is used by :class:`~._external.ExternalRouting` on the
writer thread; see that module for where the data goes and what is recorded
when it cannot be read.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from resonance_callback.callback._external_refs import Item
from resonance_callback.errors import (
    DocumentError,
    ExternalDataError,
    FrameShapeError,
    MalformedReferenceError,
    UnsafePathError,
)
from resonance_callback.external import OCTET_MIMETYPE, ExternalResolver
from resonance_callback.store import UnresolvedRow

if TYPE_CHECKING:
    from resonance_callback.callback._runs import Run
    from resonance_callback.store import RowWriter

__all__ = ["ReferenceReader"]

log = logging.getLogger("resonance_callback")


class ReferenceReader:
    """Read a run's references (datum ids, stream_datum ranges) and store what they hold.

    Parameters
    ----------
    resolver : ExternalResolver
        Opens and reads the files (used by the writer thread only).
    inline_limit : int
        Per-event stream arrays with more elements than this go to Zarr.
    """

    def __init__(self, resolver: ExternalResolver, inline_limit: int) -> None:
        self.resolver = resolver
        self.inline_limit = inline_limit


    def offer(self, w: RowWriter, run: Run, item: Item) -> None:
        """Store ``item`` now if it and every older pending one of its key can be read.

        A key's frames are stored in the order their references arrived (seq_num
        order, across files): while an older one is not readable yet, a newer
        one waits behind it.
        """
        queue = run.external.pending[(item.stream_uid, item.key)]
        while queue and self.attempt(w, run, queue[0], wait=0.0):
            queue.popleft()
        if queue or not self.attempt(w, run, item, wait=0.0):
            queue.append(item)

    def attempt(self, w: RowWriter, run: Run, item: Item, *, wait: float,
                 final: bool = False) -> bool:
        """Read and store ``item``; False if it is not readable yet (and not ``final``)."""
        try:
            as_frames = False
            if item.doc is None:
                array = self.resolver.fill(item.reference, wait=wait, shape=item.shape)
            else:
                assert item.shape is not None
                read = self.resolver.read_stream_datum(item.doc, item.shape, wait=wait)
                array, as_frames = read.array, read.mimetype == OCTET_MIMETYPE
        except (UnsafePathError, FrameShapeError, MalformedReferenceError) as exc:  # no wait helps
            self.unresolved(w, run, item, str(exc))
            return True
        except ExternalDataError as exc:
            if not final:
                return False
            timeout = self.resolver.timeout
            self.unresolved(w, run, item,
                             f"not readable by the end of the run (waited up to {timeout:g} s): "
                             f"{exc}")
            return True
        self._store(w, run, item, np.asarray(array), as_frames=as_frames)
        return True

    def _store(self, w: RowWriter, run: Run, item: Item, array: np.ndarray, *,
               as_frames: bool = False) -> None:
        """Store what ``item`` read; bytes (``as_frames``) always as frames, keeping uint8."""
        if array.dtype.hasobject:
            self.unresolved(w, run, item, f"read {array.dtype} data, not numbers")
            return
        if item.doc is None:
            assert item.event_uid is not None
            try:
                w.write_image(item.event_uid, item.key, array, timestamp=item.timestamp,
                              stream_uid=item.stream_uid, seq_num=item.seq_nums[0])
            except DocumentError as exc:  # the array does not fit the field's array
                self.unresolved(w, run, item, str(exc))
            return
        as_frames = as_frames or array.ndim >= 3 or (
            math.prod(array.shape[1:]) > self.inline_limit)
        placed = run.external.placed
        for offset, (row, seq_num) in enumerate(zip(array, item.seq_nums, strict=True)):
            here = _reference(item, offset)
            first = placed.setdefault((item.stream_uid, item.key, seq_num), here)
            if first != here:  # two stream_datums name this event: keep the first
                self.unresolved(w, run, item, (
                    f"seq_num {seq_num} of key {item.key!r} already has its data from "
                    f"{first}; {here} names the same event again (overlapping or "
                    "contradictory stream_datum ranges); not stored"), only=offset)
                continue
            try:
                event_uid = w.derived.event_at(item.stream_uid, seq_num, time=item.received)
                if as_frames:
                    w.write_image(event_uid, item.key, row, stream_uid=item.stream_uid,
                                  seq_num=seq_num)
                else:
                    w.derived.merge_event_data(event_uid, {item.key: row.tolist()},
                                       stream_uid=item.stream_uid, seq_num=seq_num)
            except DocumentError as exc:
                self.unresolved(w, run, item, str(exc), only=offset)

    def unresolved(self, w: RowWriter, run: Run, item: Item, reason: str,
                    only: int | None = None) -> None:
        """Record the item's frames (or only its ``only``-th) in ``unresolved_frames``."""
        log.warning("detector data %s of key %r not stored: %s", item.reference, item.key, reason)
        offsets = range(len(item.seq_nums)) if only is None else (only,)
        for offset in offsets:
            reference = _reference(item, offset)
            w.records.record_unresolved(UnresolvedRow(item.key, reference, reason,
                                                      run_uid=run.uid,
                                              stream_uid=item.stream_uid,
                                              seq_num=item.seq_nums[offset]))


def _reference(item: Item, offset: int) -> str:
    """The reference of one event of ``item``: a datum id, or ``{stream_resource}[{index}]``."""
    if item.doc is None:
        return item.reference
    return f"{item.doc['stream_resource']}[{item.doc['indices']['start'] + offset}]"
