"""Rebuild a stored run's document stream: ``Run.documents()``.

The rows are read in one snapshot when :func:`iter_documents` is called;
documents are then built one at a time as the iterator is consumed, frames
read from Zarr only when their event is reached. The order is that of
:mod:`resonance_callback.read._order`. Rows the writer derived (``derived = 1``)
are not events and are left out; rejected documents are not part of the
stream (see :meth:`Run.rejected <resonance_callback.read.Run.rejected>`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.errors import RunLookupError
from resonance_callback.read._frames import FrameReader
from resonance_callback.read._order import (
    DescriptorRec,
    EventRec,
    ExternalRec,
    finite_time,
    order_documents,
)
from resonance_callback.store import BeamtimeReader, run_queries

__all__ = ["descriptor_document", "iter_documents"]

Doc = dict[str, Any]


def descriptor_document(run_uid: str, row: tuple[Any, ...]) -> dict[str, Any]:
    """Rebuild a descriptor from a ``streams`` row.

    Parameters
    ----------
    run_uid : str
        The run the stream belongs to.
    row : tuple
        ``(uid, name, time, data_keys, configuration, document)``.

    Returns
    -------
    dict
        The stored document, or one made from the columns if none was kept
        (a stream written through :class:`~resonance_callback.store.RunWriter`).
    """
    uid, name, time, data_keys, configuration, document = row
    doc = jsoncodec.loads(document) or {}
    if doc:
        return doc
    return {"uid": uid, "run_start": run_uid, "name": name,
            "time": 0.0 if time is None else time,
            "data_keys": jsoncodec.loads(data_keys) or {},
            "configuration": jsoncodec.loads(configuration) or {}}


def _start_document(row: tuple[Any, ...]) -> Doc:
    uid, plan_name, scan_id, time_start, metadata, _stop = row
    start = jsoncodec.loads(metadata) or {}
    if "uid" not in start:  # written through RunWriter with plain metadata
        start = {"uid": uid, "time": time_start, **start}
        if plan_name is not None:
            start.setdefault("plan_name", plan_name)
        if scan_id is not None:
            start.setdefault("scan_id", scan_id)
    return start


def _with_frames(stored: Doc, frames: Doc, order: list[str]) -> Doc:
    """The stored (inline) values in their stored order, then the frames in the descriptor's."""
    out = dict(stored)
    out.update((k, frames[k]) for k in order if k in frames)
    out.update(frames)
    return out


class _Streams:
    """What event building needs to know about each descriptor."""

    def __init__(self, run_uid: str, rows: list[tuple[Any, ...]], default_time: float) -> None:
        self.documents: dict[str, Doc] = {}
        self.order: dict[str, list[str]] = {}
        self.external: dict[str, set[str]] = {}
        self.streamed: dict[str, set[str]] = {}  # ophyd-async keys: not in the event at all
        self.records: list[DescriptorRec] = []
        for row in rows:
            doc = descriptor_document(run_uid, row[:6])
            keys = doc.get("data_keys") or {}
            uid = row[0]
            self.documents[uid] = doc
            self.order[uid] = list(keys)
            self.external[uid] = {k for k, dk in keys.items()
                                  if isinstance(dk, dict) and dk.get("external")}
            self.streamed[uid] = {k for k in self.external[uid]
                                  if str(keys[k]["external"]).startswith("STREAM:")}
            self.records.append(DescriptorRec(uid, row[1], finite_time(
                doc.get("time", row[2]), default_time), row[6]))


def iter_documents(reader: BeamtimeReader, frames: FrameReader, run_uid: str, *,
                   fill: bool = True) -> Iterator[tuple[str, Doc]]:
    """Read one run's rows in one snapshot and return an iterator over its documents.

    Parameters
    ----------
    reader : BeamtimeReader
        The open beamtime.
    frames : FrameReader
        Its frame store.
    run_uid : str
        The run's full uid.
    fill : bool, optional
        See :meth:`Run.documents <resonance_callback.read.Run.documents>`.

    Returns
    -------
    iterator of (str, dict)
        ``(name, document)`` pairs.

    Raises
    ------
    KeyError
        If there is no such run (:class:`RunLookupError`).
    """
    rows = run_queries.document_rows(reader, run_uid)
    if rows.run is None:
        raise RunLookupError(f"no run {run_uid} in {reader.path}")
    run, stream_rows, events, ref_rows, ext_rows = (
        rows.run, rows.streams, rows.events, rows.refs, rows.externals)
    start = _start_document(run)
    streams = _Streams(run_uid, stream_rows, finite_time(start.get("time"), 0.0))
    refs: dict[str, list[tuple[str, str, int, float | None]]] = defaultdict(list)
    for event_uid, field, path, index, stamp in ref_rows:
        refs[event_uid].append((field, path, index, stamp))
    decoded: dict[str, Doc] = {}
    records = []
    for uid, desc, seq_num, time, data, *_rest, rowid in events:
        datum_ids: tuple[str, ...] = ()
        external = streams.external.get(desc)
        if external:
            decoded[uid] = values = jsoncodec.loads(data)
            datum_ids = tuple(v for k, v in values.items() if k in external and isinstance(v, str))
        records.append(EventRec(uid, desc, seq_num, time, rowid, datum_ids))
    externals = [ExternalRec(name, uid, ordinal, jsoncodec.loads(doc))
                 for name, uid, ordinal, doc in ext_rows]
    ordered = order_documents(streams.records, records, externals)
    rows_by_uid = {row[0]: row for row in events}
    stop = jsoncodec.loads(run[5])
    builder = _EventBuilder(frames, streams, refs, decoded, fill)
    return _emit(start, ordered, streams, rows_by_uid, builder, stop)


def _emit(start: Doc, ordered: list[Any], streams: _Streams, rows: dict[str, tuple[Any, ...]],
          builder: _EventBuilder, stop: Doc | None) -> Iterator[tuple[str, Doc]]:
    yield "start", start
    for item in ordered:
        if isinstance(item, DescriptorRec):
            yield "descriptor", streams.documents[item.uid]
        elif isinstance(item, EventRec):
            yield "event", builder.build(rows[item.uid])
        else:
            yield item.name, item.doc
    if stop is not None:
        yield "stop", stop


class _EventBuilder:
    """Turn an ``events`` row (and its ``image_refs``) back into an event document."""

    def __init__(self, frames: FrameReader, streams: _Streams,
                 refs: dict[str, list[tuple[str, str, int, float | None]]],
                 decoded: dict[str, Doc], fill: bool) -> None:
        self.frames = frames
        self.streams = streams
        self.refs = refs
        self.decoded = decoded
        self.fill = fill

    def build(self, row: tuple[Any, ...]) -> Doc:
        uid, desc, seq_num, time, data, timestamps, filled, _rowid = row
        values = self.decoded.pop(uid, None)
        if values is None:
            values = jsoncodec.loads(data)
        stamps = jsoncodec.loads(timestamps) or {}
        filled_map = jsoncodec.loads(filled) or {}
        external = self.streams.external.get(desc, set())
        streamed = self.streams.streamed.get(desc, set())
        frames: Doc = {}
        frame_stamps: Doc = {}
        for field, path, index, stamp in self.refs.get(uid, ()):
            if field in streamed:
                continue
            if field in external:
                if not self.fill:
                    continue
                reference = values.get(field)
                filled_map[field] = reference if isinstance(reference, str) else True
            frames[field] = self.frames.read(path, index)
            if field not in stamps and stamp is not None:
                frame_stamps[field] = stamp
        order = self.streams.order.get(desc, [])
        values = _with_frames(values, frames, order)
        stamps = _with_frames(stamps, frame_stamps, order)
        # ophyd-async data arrived through stream_datum documents, which the
        # stream carries; the event document itself had none of it.
        for key in streamed:
            values.pop(key, None)
            stamps.pop(key, None)
            filled_map.pop(key, None)
        return {"uid": uid, "time": time, "data": values, "timestamps": stamps, "seq_num": seq_num,
                "filled": filled_map, "descriptor": desc}
