"""What a detector-file field's (stream) resource says about how TiledWriter serves it.

TiledWriter makes one array node per detector-file field, built by a
bluesky-tiled-plugins consolidator from the field's stream resource (a
``resource`` is first turned into one). Two of its choices show to a client
and depend on the resource's parameters, not only on the frames:

- the node's metadata: ``frame_per_point`` (the ``multiplier``, or the legacy
  ``frame_per_point`` it was renamed from) and ``spec`` (the resource's spec);
- ``join_method="concat"`` with ``n > 1`` rows per event: the events' rows
  are joined along one axis, ``N`` events served as ``N * n`` rows (we store
  ``(N, n, ...)``, one frame per event, and join them when read).

:func:`field_resources` finds each field's (stream) resource among the run's stored
documents; :func:`node_metadata`, :func:`joined_rows` and :func:`tiled_chunks`
(the array's chunks, from ``chunk_shape``) apply TiledWriter's rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback._datum_shape import datum_shape, multiplier_of
from resonance_callback.store import BeamtimeReader, run_queries

__all__ = ["MAX_CHUNK_BYTES", "MIN_BLOCK_LIMIT", "field_resources", "joined_rows",
           "node_metadata", "resource_parameters", "tiled_chunks"]


def _decoded(text: str) -> dict[str, Any]:
    try:
        doc = jsoncodec.loads(text)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def resource_parameters(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters TiledWriter reads from a (stream) resource, with its ``spec``.

    A ``resource`` (or a stream resource from before event-model 1.20, with
    ``resource_kwargs``) carries them in ``resource_kwargs``; TiledWriter keeps
    its spec among them (upper-cased for a resource).
    """
    if "mimetype" in doc and "resource_kwargs" not in doc:
        parameters = doc.get("parameters")
        return dict(parameters) if isinstance(parameters, Mapping) else {}
    kwargs = doc.get("resource_kwargs")
    parameters = dict(kwargs) if isinstance(kwargs, Mapping) else {}
    spec = doc.get("spec")
    if isinstance(spec, str) and spec:
        parameters["spec"] = spec.upper() if "data_key" not in doc else spec
    return parameters


def field_resources(reader: BeamtimeReader, run_uid: str,
                     streamed: Iterable[str], datum_ids: Mapping[str, str]
                     ) -> dict[str, dict[str, Any]]:
    """Return the (stream) resource documents of a stream's detector-file fields.

    Parameters
    ----------
    reader : BeamtimeReader
        The open beamtime.
    run_uid : str
        The run's full uid.
    streamed : iterable of str
        The stream's ophyd-async (``STREAM:``) fields: their stream resource
        names them (``data_key``); the first one of the run for a field counts.
    datum_ids : mapping
        ``{field: datum id}`` for ophyd (v1) fields: the datum names the resource
        (used for a field no stream resource names).

    Returns
    -------
    dict
        ``{field: document}`` for every field whose resource was found (its
        parameters as TiledWriter reads them: :func:`resource_parameters`).
    """
    out: dict[str, dict[str, Any]] = {}
    wanted = set(streamed)
    if wanted:
        for text in run_queries.external_documents(reader, run_uid, "stream_resource"):
            doc = _decoded(text)
            key = doc.get("data_key")
            if isinstance(key, str) and key in wanted and key not in out:
                out[key] = doc
                if len(out) == len(wanted):
                    break
    for field, datum_id in datum_ids.items():
        if field in out:
            continue
        datum = next(map(_decoded, run_queries.external_documents(
            reader, run_uid, "datum", datum_id)), {})
        resource_uid = datum.get("resource")
        if not isinstance(resource_uid, str):
            continue
        resource = next(map(_decoded, run_queries.external_documents(
            reader, run_uid, "resource", resource_uid)), None)
        if resource:
            out[field] = resource
    return out


def node_metadata(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata TiledWriter's consolidator puts on the field's array node.

    ``spec`` when the parameters carry one; ``frame_per_point`` (always under
    that name) when a ``multiplier`` or ``frame_per_point`` is set.
    """
    out: dict[str, Any] = {}
    spec = parameters.get("spec")
    if spec:
        out["spec"] = spec
    value = parameters.get("frame_per_point") or parameters.get("multiplier")
    if value:
        out["frame_per_point"] = value
    return out


def joined_rows(declared: Any, parameters: Mapping[str, Any],
                frame_shape: tuple[int, ...]) -> int | None:
    """How many rows of each stored frame TiledWriter joins into its one axis, or None.

    Under ``join_method="concat"`` TiledWriter serves ``N * n`` rows for ``N``
    events of ``n`` rows each (its ``datum_shape[0]``). A frame stored with
    that leading axis (``frame_shape`` equal to the datum shape) is joined; one
    whose leading 1 was dropped when stored (``[1, H, W]`` stored as
    ``[H, W]``) already is a row.
    """
    if parameters.get("join_method") != "concat" or not frame_shape:
        return None
    if not isinstance(declared, (list, tuple)) or not all(
            isinstance(size, int) and not isinstance(size, bool) for size in declared):
        return None
    try:
        multiplier_of(parameters)
    except (TypeError, ValueError):
        return None
    datum = datum_shape(declared, parameters, collapse=False)
    return frame_shape[0] if datum == frame_shape else None


MAX_CHUNK_BYTES = 64 * 2**20
"""The largest block :func:`tiled_chunks` makes (bytes); past it, a frame is a block."""


MIN_BLOCK_LIMIT = 10_000
""":func:`tiled_chunks` makes at most this many blocks, or one per event if there are more."""


def _summands(total: int, part: int, repeat: int = 1) -> tuple[int, ...]:
    """bluesky-tiled-plugins' ``list_summands``: ``total`` in pieces of ``part``, repeated."""
    pieces = [part] * (total // part) + ([total % part] if total % part else [])
    return tuple(pieces) * repeat or (0,)


def tiled_chunks(shape: tuple[int, ...], itemsize: int, parameters: Mapping[str, Any],
                 rows: int | None) -> tuple[tuple[int, ...], ...] | None:
    """The chunks TiledWriter gives a detector-file field's array, from its ``chunk_shape``.

    Parameters
    ----------
    shape : tuple of int
        The array as served (rows joined, see :func:`joined_rows`).
    itemsize : int
        Bytes per element.
    parameters : mapping
        The (stream) resource's parameters.
    rows : int or None
        The rows per event joined into the first axis (``concat``), or None.

    Returns
    -------
    tuple or None
        Dask-style chunks (``chunk_shape[i]`` along the leading axes, whole
        along the others; with ``concat`` and ``join_chunks=false`` each event's
        rows chunked apart), or None (one frame a block, as stored) without a
        usable ``chunk_shape``, when a block would exceed :data:`MAX_CHUNK_BYTES`,
        or when there would be more blocks than events and :data:`MIN_BLOCK_LIMIT`
        (a ``chunk_shape`` of 1s over large frames).
    """
    chunk_shape = parameters.get("chunk_shape")
    if not isinstance(chunk_shape, (list, tuple)) or not chunk_shape or len(chunk_shape) > len(
            shape) or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0
                              for c in chunk_shape) or 0 in shape:
        return None
    block = [min(c, size) for c, size in zip(chunk_shape, shape, strict=False)]
    if itemsize * math.prod(block) * math.prod(shape[len(chunk_shape):]) > MAX_CHUNK_BYTES:
        return None
    events = shape[0] // rows if rows else shape[0]
    pieces = [-(-size // c) for size, c in zip(shape, chunk_shape, strict=False)]
    if rows and parameters.get("join_chunks") is False:
        pieces[0] = events * -(-rows // chunk_shape[0])
    if math.prod(pieces) > max(events, MIN_BLOCK_LIMIT):  # never a graph past one per event
        return None
    leading = [_summands(size, c) for size, c in zip(shape, chunk_shape, strict=False)]
    if rows and parameters.get("join_chunks") is False:
        leading[0] = _summands(rows, chunk_shape[0], repeat=shape[0] // rows)
    return (*leading, *((size,) for size in shape[len(chunk_shape):]))
