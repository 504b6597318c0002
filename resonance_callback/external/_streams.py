"""ophyd-async documents for the resolver: stream resources and the frames of stream datums."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resonance_callback.errors import ExternalDataError
from resonance_callback.external._common import (
    HDF5_MIMETYPE,
    SUPPORTED_MIMETYPES,
    TIFF_MIMETYPE,
    _with_retry,
)
from resonance_callback.external._paths import _PathPolicy
from resonance_callback.external._sources import (
    _fixed_shape,
    _frames_per_event,
    _FrameSource,
    _HDF5Source,
    _ImageSequenceSource,
    _load_jpeg,
    _load_tiff,
)


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
        ``(len(seq_nums), *declared_per_event_shape)``, dtype as in the file.
    """

    data_key: str
    descriptor: str
    seq_nums: range
    indices: range
    array: np.ndarray


@dataclass
class _StreamResource:
    uid: str
    data_key: str
    mimetype: str
    path: Path
    parameters: dict[str, Any]
    run_start: str | None


def _normalise_mimetype(mimetype: str) -> str:
    return ";".join(part.strip() for part in mimetype.split(";")).lower()


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
        mimetype = _normalise_mimetype(str(doc["mimetype"]))
        if mimetype not in SUPPORTED_MIMETYPES:
            raise ExternalDataError(
                f"stream_resource {uid}: mimetype {doc['mimetype']!r} is not supported "
                f"(supported: {', '.join(sorted(SUPPORTED_MIMETYPES))})"
            )
        parameters = dict(doc.get("parameters") or {})
        if "uri" not in doc:
            raise ExternalDataError(
                f"stream_resource {uid} has no 'uri' (documents from event-model < 1.20, "
                "with root/resource_path, are not supported)"
            )
        needed = "dataset" if mimetype == HDF5_MIMETYPE else "template"
        if needed not in parameters:
            raise ExternalDataError(
                f"stream_resource {uid}: mimetype {mimetype} needs parameters.{needed}"
            )
        self._resources[uid] = _StreamResource(
            uid=uid,
            data_key=doc["data_key"],
            mimetype=mimetype,
            path=self._paths.uri_path(str(doc["uri"]), f"stream_resource {uid}"),
            parameters=parameters,
            run_start=doc.get("run_start", run_start),
        )

    def _open_source(self, resource: _StreamResource) -> _FrameSource:
        if resource.mimetype == HDF5_MIMETYPE:
            return _HDF5Source(resource.path, resource.parameters)
        load = _load_tiff if resource.mimetype == TIFF_MIMETYPE else _load_jpeg
        return _ImageSequenceSource(
            resource.path, resource.parameters, load, self._paths.check_allowed
        )

    def _read_events(
        self, resource: _StreamResource, shape: Sequence[int | None], events: range
    ) -> np.ndarray:
        where = f"stream_resource {resource.uid} data_key {resource.data_key!r}"
        per_event_shape = _fixed_shape(shape, where)
        source = self._open_source(resource)
        try:
            frame_shape, _ = source.frame_info(events.start)
            per_event = _frames_per_event(per_event_shape, frame_shape, where)
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
        indices = range(doc["indices"]["start"], doc["indices"]["stop"])
        seq_nums = range(doc["seq_nums"]["start"], doc["seq_nums"]["stop"])
        if len(indices) != len(seq_nums) or indices.start < 0:
            raise ExternalDataError(
                f"stream_datum {doc['uid']}: indices {doc['indices']} and seq_nums "
                f"{doc['seq_nums']} do not describe the same events"
            )
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
        )

    def forget_run(self, run_start_uid: str) -> None:
        """Drop the stream resources of one run."""
        for uid in [u for u, r in self._resources.items() if r.run_start == run_start_uid]:
            del self._resources[uid]

    def clear(self) -> None:
        """Drop every stream resource."""
        self._resources.clear()
