"""Where a stream's detector data came from: its stream resources and their stream datums.

The documents are those the writer kept for the run (``external_documents``);
a field's frames were read from the files they name into the Zarr store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.store import BeamtimeReader, run_queries

__all__ = ["StreamResourceRef", "stream_resources"]


@dataclass(frozen=True)
class StreamResourceRef:
    """One stream resource of a field, with its stream datums of the stream, in order.

    Attributes
    ----------
    document : dict
        The ``stream_resource`` document as stored.
    datums : list of dict
        Its ``stream_datum`` documents whose descriptor is one of the stream's.
    """

    document: dict[str, Any]
    datums: list[dict[str, Any]] = field(default_factory=list)


def stream_resources(reader: BeamtimeReader, run_uid: str, descriptor_uids: set[str]
                     ) -> dict[str, list[StreamResourceRef]]:
    """Return, per data key, the stream resources whose datums feed the given descriptors.

    A stream resource none of whose stream datums belongs to the stream is left out.
    """
    resources: dict[str, StreamResourceRef] = {}
    used: dict[str, StreamResourceRef] = {}
    for name, text in run_queries.stream_documents(reader, run_uid):
        doc = jsoncodec.loads(text)
        if not isinstance(doc, dict):
            continue
        if name == "stream_resource":
            resources[str(doc.get("uid"))] = StreamResourceRef(doc)
        elif doc.get("descriptor") in descriptor_uids:
            ref = resources.get(str(doc.get("stream_resource")))
            if ref is not None:
                ref.datums.append(doc)
                used.setdefault(str(ref.document.get("uid")), ref)
    out: dict[str, list[StreamResourceRef]] = {}
    for ref in used.values():
        out.setdefault(str(ref.document.get("data_key")), []).append(ref)
    return out
