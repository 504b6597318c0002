"""Put a stored run's documents back in the order they were emitted.

Pure functions on light records, no SQL and no JSON, so the rules can be read
(and tested) on their own:

1. ``start`` first, ``stop`` last.
2. Within one stream name, events in ``(seq_num, time, stored order)`` order;
   each descriptor just before the first event that belongs to it (a second
   descriptor of a stream, after a device was reconfigured, lands between
   the events of the first and the second configuration); a descriptor with no
   events by its time.
3. Streams are interleaved by time: a merge of the per-stream sequences on
   each document's ``time``, earlier-declared stream first on a tie.
4. External documents (resource, datum, stream_resource, stream_datum) keep
   their stored (arrival) order, each placed just before the first event that
   needs it: a datum before the event holding its ``datum_id``, a resource
   before its first such datum, a stream_datum before the event of its
   descriptor whose ``seq_num`` is its ``seq_nums["start"]``, a
   stream_resource before its first such stream_datum. A document that no
   emitted event needs comes right after the external document before it; a
   stream_datum or stream_resource never before the descriptor it feeds.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DescriptorRec", "EventRec", "ExternalRec", "order_documents"]


@dataclass(frozen=True)
class DescriptorRec:
    """A stored descriptor: its uid, stream name, time and stored order."""

    uid: str
    name: str
    time: float
    rowid: int


@dataclass(frozen=True)
class EventRec:
    """A stored event: what ordering needs, and the datum ids its data holds."""

    uid: str
    descriptor: str
    seq_num: int
    time: float
    rowid: int
    datum_ids: tuple[str, ...] = ()


@dataclass
class ExternalRec:
    """A stored resource, datum, stream_resource or stream_datum document."""

    name: str
    uid: str
    ordinal: int
    doc: dict[str, Any] = field(repr=False)


Item = DescriptorRec | EventRec


def _stream_sequence(descs: list[DescriptorRec], events: list[EventRec]) -> list[Item]:
    events = sorted(events, key=lambda e: (e.seq_num, e.time, e.rowid))
    first: dict[str, int] = {}
    for i, ev in enumerate(events):
        first.setdefault(ev.descriptor, i)
    times = [ev.time for ev in events]
    inserts = []
    for d in descs:
        pos = first.get(d.uid)
        if pos is None:
            pos = bisect.bisect_right(times, d.time)
        inserts.append((pos, d.time, d.rowid, d))
    inserts.sort(key=lambda t: t[:3])
    out: list[Item] = []
    k = 0
    for i, ev in enumerate(events):
        while k < len(inserts) and inserts[k][0] <= i:
            out.append(inserts[k][3])
            k += 1
        out.append(ev)
    out.extend(t[3] for t in inserts[k:])
    return out


def merge_streams(descriptors: Iterable[DescriptorRec], events: Iterable[EventRec]) -> list[Item]:
    """Order descriptors and events: each stream in order, streams interleaved by time.

    Parameters
    ----------
    descriptors : iterable of DescriptorRec
        Every descriptor of the run.
    events : iterable of EventRec
        Every event to emit.

    Returns
    -------
    list
        Descriptors and events in emission order (rules 2 and 3).
    """
    descs = sorted(descriptors, key=lambda d: (d.time, d.rowid))
    names = list(dict.fromkeys(d.name for d in descs))
    name_of = {d.uid: d.name for d in descs}
    by_name: dict[str, list[EventRec]] = defaultdict(list)
    for ev in events:
        by_name[name_of.get(ev.descriptor, "")].append(ev)
    sequences = [_stream_sequence([d for d in descs if d.name == n], by_name.get(n, []))
                 for n in names]
    return list(heapq.merge(*sequences, key=lambda item: item.time))


def _anchors(items: list[Item], externals: list[ExternalRec]) -> list[int | None]:
    """Index in ``items`` of the first event that needs each external document."""
    by_datum: dict[str, int] = {}
    by_seq: dict[tuple[str, int], int] = {}
    for pos, item in enumerate(items):
        if isinstance(item, EventRec):
            for datum_id in item.datum_ids:
                by_datum.setdefault(datum_id, pos)
            by_seq.setdefault((item.descriptor, item.seq_num), pos)
    anchor: list[int | None] = []
    for ext in externals:
        if ext.name == "datum":
            anchor.append(by_datum.get(ext.uid))
        elif ext.name == "stream_datum":
            start = (ext.doc.get("seq_nums") or {}).get("start")
            anchor.append(by_seq.get((str(ext.doc.get("descriptor")), start))
                          if isinstance(start, int) else None)
        else:
            anchor.append(None)
    # A resource is needed where its first datum is (likewise stream resources).
    parent_key = {"datum": "resource", "stream_datum": "stream_resource"}
    first_child: dict[str, int] = {}
    for ext, at in zip(externals, anchor, strict=True):
        parent = ext.doc.get(parent_key.get(ext.name, ""))
        if at is not None and isinstance(parent, str):
            first_child[parent] = min(at, first_child.get(parent, at))
    return [first_child.get(ext.uid) if ext.name in ("resource", "stream_resource") else at
            for ext, at in zip(externals, anchor, strict=True)]


def place_externals(
    items: list[Item], externals: list[ExternalRec]
) -> list[tuple[int, ExternalRec]]:
    """Decide before which item each external document goes (rule 4).

    Parameters
    ----------
    items : list
        The merged descriptors and events; position 0 comes right after start.
    externals : list of ExternalRec
        External documents in stored (arrival) order.

    Returns
    -------
    list of (int, ExternalRec)
        ``(i, doc)``: emit ``doc`` just before ``items[i]`` (``len(items)``:
        after the last item), in stored order.
    """
    externals = sorted(externals, key=lambda e: e.ordinal)
    desc_pos = {item.uid: i for i, item in enumerate(items) if isinstance(item, DescriptorRec)}
    # Stream documents never come before the descriptor they feed.
    after: dict[str, int] = {}
    for ext in externals:
        if ext.name == "stream_datum":
            pos = desc_pos.get(str(ext.doc.get("descriptor")), -1) + 1
            after[ext.uid] = pos
            parent = str(ext.doc.get("stream_resource"))
            after[parent] = min(pos, after.get(parent, pos))
    anchors = _anchors(items, externals)
    # Latest place each may go and still precede, in stored order, every event
    # needing it or a later document.
    latest: list[int] = []
    bound = len(items)
    for anchor in reversed(anchors):
        bound = bound if anchor is None else min(bound, anchor)
        latest.append(bound)
    latest.reverse()
    placed = []
    floor = 0
    for ext, anchor, last in zip(externals, anchors, latest, strict=True):
        lower = max(floor, after.get(ext.uid, 0))
        pos = lower if anchor is None else max(last, lower)  # needed: as late as it may
        placed.append((pos, ext))
        floor = pos
    return placed


def order_documents(
    descriptors: Iterable[DescriptorRec],
    events: Iterable[EventRec],
    externals: Iterable[ExternalRec],
) -> list[Item | ExternalRec]:
    """Return every document between start and stop in emission order.

    Parameters
    ----------
    descriptors : iterable of DescriptorRec
        The run's descriptors.
    events : iterable of EventRec
        The events to emit (not the writer's derived rows).
    externals : iterable of ExternalRec
        The run's external documents.

    Returns
    -------
    list
        Records in the order the module docstring describes.
    """
    items = merge_streams(descriptors, events)
    placed = place_externals(items, list(externals))
    out: list[Item | ExternalRec] = []
    k = 0
    for i, item in enumerate(items):
        while k < len(placed) and placed[k][0] <= i:
            out.append(placed[k][1])
            k += 1
        out.append(item)
    out.extend(ext for _, ext in placed[k:])
    return out


def finite_time(value: Any, default: float) -> float:
    """Return ``value`` as a float time, or ``default`` when missing or not finite."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        return default
    return t if math.isfinite(t) else default
