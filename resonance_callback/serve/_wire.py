"""Documents off the wire: bluesky-nats msgpack, bluesky 0MQ messages, and their dtypes.

* **NATS** (bluesky-nats ``NATSPublisher``): subject ``<prefix>.<document name>``,
  payload packed by ``ormsgpack`` with ``OPT_SERIALIZE_NUMPY`` (numpy arrays
  become msgpack arrays, i.e. lists; msgpack-numpy's ``{"nd": True, ...}``
  maps are read too), header ``run_id`` = the start's uid.
* **0MQ** (``bluesky.callbacks.zmq.Publisher`` through ``bluesky-0MQ-proxy``):
  ``b"<prefix> <name> <serialized doc>"``, pickled by default.

msgpack keeps no numpy dtype: a ``uint16`` frame arrives as a list of ints that
numpy would store as ``int64``. ``resonance_callback._array_types.ArrayTypes`` gives
arrays whose descriptor declares ``dtype_numpy`` their dtype back (as ``replay`` does for
text formats), so the served beamtime holds what the in-process callback would.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from resonance_callback.errors import DocumentError

__all__ = ["DOCUMENT_NAMES", "Delivery", "nats_document", "zmq_document"]

#: The document names bluesky emits (the last token of a bluesky-nats subject).
DOCUMENT_NAMES = frozenset({
    "start", "descriptor", "event", "event_page", "stop", "resource", "datum",
    "datum_page", "stream_resource", "stream_datum",
})


@dataclass
class Delivery:
    """One document received: what it carried and how to acknowledge it.

    ``doc`` is a dict, or the raw payload when it could not be read (the
    callback keeps it as rejected). ``sent`` is when the source stored it
    (the publish time; None when the source does not say).
    """

    name: str
    doc: Any
    nbytes: int
    sent: float | None = None
    token: Any = None
    seq: int = 0


def _ndarray_hook(obj: dict[Any, Any]) -> Any:
    """Read a msgpack-numpy array map (``nd``, ``type``, ``shape``, ``data``)."""
    if obj.get("nd") is True and "data" in obj and "type" in obj:
        dtype = np.dtype(obj["type"] if isinstance(obj["type"], str) else obj["type"])
        return np.frombuffer(obj["data"], dtype=dtype).reshape(obj["shape"]).copy()
    return obj


def nats_document(subject: str, payload: bytes) -> tuple[str, dict[str, Any]]:
    """``(name, doc)`` of one bluesky-nats message.

    Raises
    ------
    DocumentError
        The subject's last token is no document name, or the payload is not a msgpack map.
    """
    name = subject.rsplit(".", 1)[-1]
    if name not in DOCUMENT_NAMES:
        raise DocumentError(f"subject {subject!r} names no bluesky document")
    try:
        doc = msgpack.unpackb(payload, raw=False, strict_map_key=False,
                              object_hook=_ndarray_hook)
    except Exception as exc:
        raise DocumentError(f"subject {subject!r}: payload is not msgpack ({exc})") from exc
    if not isinstance(doc, dict):
        raise DocumentError(f"subject {subject!r}: payload is a {type(doc).__name__}, "
                            "not a document")
    return name, doc


def zmq_document(message: bytes, prefix: bytes = b"",
                 deserializer: Callable[[bytes], Any] = pickle.loads
                 ) -> tuple[str, dict[str, Any]] | None:
    """``(name, doc)`` of one message of bluesky's 0MQ publisher; None if another prefix's.

    Raises
    ------
    DocumentError
        The message is not ``prefix name doc``, or its document cannot be read.
    """
    parts = message.split(b" ", 2)
    if len(parts) != 3:
        raise DocumentError(f"0MQ message of {len(message)} bytes is not 'prefix name doc'")
    got_prefix, raw_name, raw_doc = parts
    if got_prefix != prefix:
        return None
    name = raw_name.decode("utf-8", "backslashreplace")
    if name not in DOCUMENT_NAMES:
        raise DocumentError(f"0MQ message names no bluesky document: {name!r}")
    try:
        doc = deserializer(raw_doc)
    except Exception as exc:
        raise DocumentError(f"0MQ {name} document cannot be read ({exc})") from exc
    return name, doc
