"""A stream's array nodes: a field's frames (or values), served as TiledWriter serves them.

A field's frames, not joined (``concat``), are served straight from its
:class:`~resonance_callback.read.FrameArray` (:func:`served_values`): building
the node and answering a request for frame ``k`` read that frame and a few rows of
the beamtime, never the stream's table, in time independent of the run's length.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from resonance_callback import jsoncodec
from resonance_callback._extras import needs_extra
from resonance_callback.errors import StorageError
from resonance_callback.read import Stream
from resonance_callback.tiled_server._live import LiveStream
from resonance_callback.tiled_server._sources import field_data_sources

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    from fastapi import HTTPException
    from tiled.adapters.array import ArrayAdapter

__all__ = ["FrameNode", "array_node", "json_safe", "served_values"]


def json_safe(value: Any) -> Any:
    """Return ``value`` as plain JSON builtins (numpy values, NaN as our codec writes them)."""
    return jsoncodec.loads(jsoncodec.dumps(value))


class FrameNode(LiveStream, ArrayAdapter):  # type: ignore[misc]  # Tiled is untyped
    """A field's frames; one that cannot be read answers 424 Failed Dependency, and why.

    A frame cannot be read when the writer could not store it (its detector
    file unreadable: ``check`` lists it as unresolved) or its Zarr chunk is
    damaged (``check`` lists the reference).

    TiledWriter's catalog answers 500 for a file it cannot read, which Tiled's
    client retries for up to 45 s; such a frame will not come later, so the
    answer says so at once (the client raises ``ClientError`` with the
    message). Not 410, which the client reads as a broken link (``KeyError``).

    Its ``data_sources`` (asked for with ``include_data_sources``) are the
    detector files its frames came from (:mod:`._sources`), None for a field
    that came in the events.
    """

    _stream: Stream | None = None
    _field: str = ""

    @property
    def data_sources(self) -> Any:
        """The detector files of the field, as TiledWriter's node lists them (or None)."""
        if self._stream is None:
            return None
        return field_data_sources(self._stream, self._field, self.structure())

    def read(self, *args: Any, **kwargs: Any) -> Any:
        """Return the frames asked for (424 if one cannot be read)."""
        try:  # frames served from their FrameArray: read here, where a gap is caught
            return np.asarray(super().read(*args, **kwargs))
        except StorageError as exc:
            raise HTTPException(status_code=424, detail=str(exc)[:2000]) from None

    def read_block(self, *args: Any, **kwargs: Any) -> Any:
        """Return one chunk of frames (424 if one cannot be read)."""
        try:
            return np.asarray(super().read_block(*args, **kwargs))
        except StorageError as exc:
            raise HTTPException(status_code=424, detail=str(exc)[:2000]) from None


def served_values(stream: Stream, field: str) -> tuple[Any, Any]:
    """A field's values as served, and their chunks (None: the values' own).

    A field's frames, not joined (``concat``), are served straight from its
    :class:`~resonance_callback.read.FrameArray`: a request for frame ``k``
    reads that frame, in time independent of the run's length (a dask array of
    one chunk per frame costs time in its chunks to slice and compute). Their
    chunks are those the dask array had: TiledWriter's ``chunk_shape``, else one
    frame a block.
    """
    if field in stream.frame_fields:
        frames = stream.frames(field)
        if frames.frame_shape is not None and not stream.joined(field, frames.frame_shape):
            return frames, stream.frame_chunks(field, frames)
    return stream.array(field), None


def array_node(stream: Stream, field: str, dims: tuple[str, ...]) -> ArrayAdapter:
    values, chunks = served_values(stream, field)
    metadata = dict(stream.data_keys.get(field, {}))
    metadata["dtype_numpy"] = str(values.dtype)
    metadata.update(stream.field_metadata(field))  # TiledWriter's frame_per_point, spec
    # A scalar per event with no dims declared has none, as TiledWriter's.
    served = None if len(dims) == 1 and not metadata.get("dims") else dims
    node = FrameNode.from_array(values, dims=served, chunks=chunks, metadata=json_safe(metadata))
    node._stream, node._field = stream, field
    return node
