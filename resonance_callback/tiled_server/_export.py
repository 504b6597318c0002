"""A run's documents over Tiled: the ``application/json-seq`` export of a ``BlueskyRun``.

bluesky-tiled-plugins' client reads a run's documents (``run.documents()``,
and through it databroker's ``get_events``, ``restream``, ``process`` ...) by
exporting the run node as ``application/json-seq``: RFC 7464 records, each
``{"name": ..., "doc": ...}``. TiledWriter's server rebuilds them from its
nodes (uids made up, external data as one ``stream_resource`` per field);
ours sends the documents the beamtime stored, as they were emitted: their
uids, ``resource`` and ``datum`` documents (each datum as a one-datum
``datum_page``, the client knowing no ``datum``), events with their datum
ids (``fill=False``: frames stay references; frames that came inline in an
event are in it). A run still being written has no ``stop`` yet.

The rows are read in one snapshot when the response starts (in a worker
thread, never on the event loop); documents are built and sent one at a
time, frames read as their events are reached.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback._extras import needs_extra
from resonance_callback.tiled_server._nodes import RUN_SPEC, RunContainer, json_safe
from resonance_callback.tiled_server._png import frame_png

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    from tiled.media_type_registration import (
        SerializationRegistry,
        default_serialization_registry,
    )

__all__ = ["JSON_SEQ", "json_seq", "serialization_registry"]

#: The media type of a run's documents.
JSON_SEQ = "application/json-seq"


def _record(name: str, doc: Mapping[str, object]) -> str:
    """One JSON-Seq record of a stored document (kept as it came: values unchecked)."""
    if name == "datum":
        kwargs = doc.get("datum_kwargs") or {}
        name, doc = "datum_page", {
            "resource": doc.get("resource"), "datum_id": [doc.get("datum_id")],
            "datum_kwargs": {k: [v] for k, v in kwargs.items()}
            if isinstance(kwargs, Mapping) else kwargs}
    text = json.dumps({"name": name, "doc": json_safe(doc)}, default=jsoncodec.to_builtin)
    return f"\x1e{text}\n"


def json_seq(mimetype: str, adapter: Any, metadata: dict[str, Any],
             filter_for_access: Any = None) -> Iterator[str]:
    """Yield a run's stored documents as JSON-Seq records (see the module's description).

    Parameters
    ----------
    mimetype : str
        ``application/json-seq``.
    adapter : RunContainer
        The run's node (what Tiled's ``read()`` of it gives).
    metadata : dict
        The node's metadata (unused: the documents are read from the beamtime).
    filter_for_access : callable, optional
        Tiled's access filter; a run's documents are all or nothing (the
        server's API key), so it is not consulted.

    Yields
    ------
    str
        One record per document: ``start``, descriptors, resources, datum
        pages, stream resources and datums, events, ``stop``.

    Raises
    ------
    ValueError
        If ``adapter`` is not a run's node.
    """
    if not isinstance(adapter, RunContainer):
        raise ValueError(f"{JSON_SEQ} is the export of a BlueskyRun node only")
    documents = adapter.run.documents(fill=False)
    for name, doc in documents:
        yield _record(name, doc)


def serialization_registry() -> SerializationRegistry:
    """Return Tiled's serializers with ours: a run's JSON-Seq, a frame's PNG.

    Tiled's defaults, plus a ``BlueskyRun``'s ``application/json-seq`` and an
    array slice's ``image/png`` as :func:`frame_png` draws it.
    """
    registry = copy.deepcopy(default_serialization_registry)
    registry.register(RUN_SPEC.name, JSON_SEQ, json_seq)
    registry.register("array", "image/png", frame_png)
    return registry
