"""ophyd-async documents for the resolver: stream resources and the frames of stream datums."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from resonance_callback.errors import ExternalDataError, FrameShapeError, MalformedReferenceError
from resonance_callback.external._common import (
    HDF5_MIMETYPE,
    JPEG_MIMETYPE,
    NPY_MIMETYPE,
    OCTET_MIMETYPE,
    SUPPORTED_MIMETYPES,
    TIFF_MIMETYPE,
    _with_retry,
)
from resonance_callback.external._guard import MAX_FRAME_INDEX, MAX_STREAM_EVENTS, _FileGuard
from resonance_callback.external._hdf5_source import _HDF5Source, hdf5_file_loader
from resonance_callback.external._mimetypes import _normalise_mimetype, legacy_mimetype
from resonance_callback.external._paths import _PathPolicy
from resonance_callback.external._shapes import (
    check_flags,
    check_known,
    event_shape,
    frames_per_file,
    rows_per_event,
)
from resonance_callback.external._sources import (
    _fixed_shape,
    _FrameSource,
    _ImageSequenceSource,
    _load_bytes,
    _load_jpeg,
    _load_npy,
    _load_tiff,
)
from resonance_callback.external._templates import check_parameters, sequence_file


@dataclass(frozen=True)
class StreamFrames:
    """The data one ``stream_datum`` document refers to.

    Attributes
    ----------
    data_key : str
        The descriptor data key the frames belong to.
    descriptor : str
        The uid of the event descriptor.
    seq_nums : range
        The event ``seq_num`` of each row of ``array``, in order.
    indices : range
        The event indices within the stream resource (``stream_datum["indices"]``).
    array : numpy.ndarray
        ``(len(seq_nums), *per_event_shape)``, dtype as in the file: the
        declared shape as TiledWriter reads it with the stream resource's
        parameters (``multiplier``, ``join_method``, ...); for
        ``application/octet-stream``, each event's file as ``uint8`` bytes.
    mimetype : str
        The stream resource's mimetype (normalised).
    """

    data_key: str
    descriptor: str
    seq_nums: range
    indices: range
    array: np.ndarray
    mimetype: str = ""


@dataclass
class _StreamResource:
    uid: str
    data_key: str
    mimetype: str
    path: Path
    parameters: dict[str, Any]
    run_start: str | None
    guard: _FileGuard


class _Streams:
    """The stream resources of every open run, and reading their frames.

    Parameters
    ----------
    paths : _PathPolicy
        Checks a stream resource's URI when it is registered, and every file
        of an image sequence before it is opened.
    """

    def __init__(self, paths: _PathPolicy) -> None:
        self._paths = paths
        self._resources: dict[str, _StreamResource] = {}

    def add_stream_resource(self, doc: Mapping[str, Any], run_start: str | None) -> None:
        """Check the mimetype, parameters and URI of a ``stream_resource`` and remember it."""
        uid = doc["uid"]
        if "uri" not in doc and "resource_path" in doc:  # event-model < 1.20
            mimetype, parameters = legacy_mimetype(doc)
        else:
            mimetype = _normalise_mimetype(str(doc.get("mimetype")))
            parameters = dict(doc.get("parameters") or {})
        if mimetype not in SUPPORTED_MIMETYPES:
            raise ExternalDataError(
                f"stream_resource {uid}: mimetype {doc.get('mimetype', mimetype)!r} is not "
                f"supported (supported: {', '.join(sorted(SUPPORTED_MIMETYPES))})"
            )
        if "uri" not in doc and "resource_path" not in doc:
            raise ExternalDataError(f"stream_resource {uid} has no 'uri' (nor a "
                                    "root/resource_path, as before event-model 1.20)")
        where = f"stream_resource {uid}"
        check_known(parameters, where)
        if mimetype == HDF5_MIMETYPE and "path" in parameters:  # TiledWriter: path wins
            parameters["dataset"] = parameters.pop("path")
        if mimetype == NPY_MIMETYPE:  # TiledWriter's NPY consolidator sets the template
            parameters["template"] = f"{parameters.get('filename') or ''}_{{:d}}.npy"
        needed = {HDF5_MIMETYPE: "dataset", TIFF_MIMETYPE: "template",
                  JPEG_MIMETYPE: "template"}.get(mimetype)
        if needed is not None and needed not in parameters:
            raise ExternalDataError(f"{where}: mimetype {mimetype} needs parameters.{needed}")
        check_parameters(parameters, where)
        check_flags(parameters, where)
        if "uri" in doc:
            single = mimetype == HDF5_MIMETYPE or (mimetype == OCTET_MIMETYPE
                                                   and "template" not in parameters)
            path, guard = self._paths.uri_path(str(doc["uri"]), where, directory=not single)
        else:
            path, guard = self._paths.resource_path(doc, f"stream_resource {uid}")
        self._resources[uid] = _StreamResource(
            uid=uid,
            data_key=doc["data_key"],
            mimetype=mimetype,
            path=path,
            parameters=parameters,
            run_start=doc.get("run_start", run_start),
            guard=guard,
        )

    def _open_source(self, resource: _StreamResource, declared: tuple[int, ...]
                     ) -> _FrameSource:
        parameters = resource.parameters
        if resource.mimetype == HDF5_MIMETYPE and "template" not in parameters:
            return _HDF5Source(resource.path, parameters, resource.guard)
        load = {TIFF_MIMETYPE: _load_tiff, JPEG_MIMETYPE: _load_jpeg,
                NPY_MIMETYPE: _load_npy}.get(resource.mimetype) or hdf5_file_loader(parameters)
        return _ImageSequenceSource(resource.path, parameters, load, resource.guard,
                                    frames_per_file(declared, parameters))

    def _read_bytes(self, resource: _StreamResource, events: range) -> np.ndarray:
        """The bytes of each event's file (``application/octet-stream``), one row per event.

        With a ``template`` event ``i`` is file ``i``; without one, every event
        of the stream resource is its one file.
        """
        where = f"stream_resource {resource.uid} data_key {resource.data_key!r}"
        template = resource.parameters.get("template")
        rows, already = [], 0
        for index in events:
            path = resource.path if not template else Path(sequence_file(
                str(resource.path), str(template), str(resource.parameters.get("filename") or ""),
                index, where))
            resource.guard.check(path, where)
            rows.append(_load_bytes(path, resource.guard, already))
            already += rows[-1].nbytes
        if len({row.size for row in rows}) > 1:
            raise FrameShapeError(f"{where}: events {events.start} to {events.stop - 1} have "
                                  f"files of different sizes {[row.size for row in rows]}; "
                                  "read one stream_datum per size")
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.uint8)

    def _read_events(
        self, resource: _StreamResource, shape: Sequence[int | None], events: range
    ) -> np.ndarray:
        if resource.mimetype == OCTET_MIMETYPE:
            return self._read_bytes(resource, events)
        where = f"stream_resource {resource.uid} data_key {resource.data_key!r}"
        declared = _fixed_shape(shape, where)
        per_event_shape = event_shape(declared, resource.parameters)
        source = self._open_source(resource, declared)
        try:
            frame_shape, _ = source.frame_info(events.start)
            per_event = rows_per_event(per_event_shape, frame_shape, where)
            if events.stop * per_event > MAX_FRAME_INDEX + 1:
                raise MalformedReferenceError(
                    f"{where}: events {events.start} to {events.stop - 1} of "
                    f"{per_event} frames each reach beyond the largest index {MAX_FRAME_INDEX}")
            frames = source.read(events.start * per_event, events.stop * per_event)
        finally:
            source.close()
        return frames.reshape((len(events), *per_event_shape))

    def read_stream_datum(
        self,
        doc: Mapping[str, Any],
        shape: Sequence[int | None],
        budget: float,
        poll_interval: float,
    ) -> StreamFrames:
        """Read the events of a ``stream_datum``, retrying for up to ``budget`` seconds."""
        resource = self._resources.get(doc["stream_resource"])
        if resource is None:
            raise ExternalDataError(
                f"stream_datum {doc['uid']} refers to unknown stream_resource "
                f"{doc['stream_resource']}"
            )
        indices, seq_nums = checked_ranges(doc)
        _check_chunk_length(resource, shape)
        what = f"stream_datum {doc['uid']} ({resource.mimetype} at {resource.path})"
        array = _with_retry(
            what, lambda: self._read_events(resource, shape, indices), budget, poll_interval
        )
        return StreamFrames(
            data_key=resource.data_key,
            descriptor=doc["descriptor"],
            seq_nums=seq_nums,
            indices=indices,
            array=array,
            mimetype=resource.mimetype,
        )

    def forget_run(self, run_start_uid: str) -> None:
        """Drop the stream resources of one run."""
        for uid in [u for u, r in self._resources.items() if r.run_start == run_start_uid]:
            del self._resources[uid]

    def clear(self) -> None:
        """Drop every stream resource."""
        self._resources.clear()


def _check_chunk_length(resource: _StreamResource, shape: Sequence[int | None]) -> None:
    """Refuse a ``chunk_shape`` with more dimensions than the data (rows and per-event shape)."""
    chunk_shape = resource.parameters.get("chunk_shape") or ()
    if len(chunk_shape) > 1 + len(shape):
        raise MalformedReferenceError(
            f"stream_resource {resource.uid}: chunk_shape {list(chunk_shape)} has more "
            f"dimensions than the data (rows of the declared shape {list(shape)}); refused")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _span(doc: Mapping[str, Any], name: str) -> range:
    span = doc.get(name)
    start, stop = (span.get("start"), span.get("stop")) if isinstance(span, Mapping) else (0, "")
    if not (_is_int(start) and _is_int(stop)):
        raise ExternalDataError(f"stream_datum {doc.get('uid')}: {name} {span!r} is not a range")
    if not 0 <= start <= stop <= MAX_FRAME_INDEX + 1:
        raise ExternalDataError(
            f"stream_datum {doc.get('uid')}: {name} {span!r} is negative, reversed or beyond "
            f"the largest index {MAX_FRAME_INDEX}"
        )
    return range(start, stop)


def checked_ranges(doc: Mapping[str, Any]) -> tuple[range, range]:
    """Return a ``stream_datum``'s ``indices`` and ``seq_nums`` after checking them.

    Both must be integer ranges ``0 <= start <= stop`` with stops not beyond
    ``MAX_FRAME_INDEX + 1``, of the same length, at most ``MAX_STREAM_EVENTS`` long.

    Raises
    ------
    ExternalDataError
        Naming the document and the range that fails.
    """
    indices, seq_nums = _span(doc, "indices"), _span(doc, "seq_nums")
    if len(indices) != len(seq_nums):
        raise ExternalDataError(
            f"stream_datum {doc.get('uid')}: indices {doc['indices']} and seq_nums "
            f"{doc['seq_nums']} do not describe the same events"
        )
    if len(indices) > MAX_STREAM_EVENTS:
        raise ExternalDataError(
            f"stream_datum {doc.get('uid')}: {len(indices)} events, more than the "
            f"{MAX_STREAM_EVENTS} one stream_datum may cover"
        )
    return indices, seq_nums
