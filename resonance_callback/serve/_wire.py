"""Documents off the wire: bluesky-nats msgpack, bluesky 0MQ messages, and their dtypes.

* **NATS** (bluesky-nats ``NATSPublisher``): subject ``<prefix>.<document name>``,
  payload packed by ``ormsgpack`` with ``OPT_SERIALIZE_NUMPY`` (numpy arrays
  become msgpack arrays, i.e. lists; msgpack-numpy's ``{"nd": True, ...}``
  maps are read too), header ``run_id`` = the start's uid.
* **0MQ** (``bluesky.callbacks.zmq.Publisher`` through ``bluesky-0MQ-proxy``):
  ``b"<prefix> <name> <serialized doc>"``, the document serialized by the
  publisher's ``serializer`` (``pickle.dumps`` by default). The service reads
  msgpack (msgpack-numpy's array maps included, as bluesky-kafka packs them:
  ``partial(msgpack.packb, default=msgpack_numpy.encode)``) and JSON
  (``json.dumps(doc, cls=event_model.NumpyEncoder).encode()``), told apart by their
  first byte (:data:`FORMATS`, ``auto``). Pickle runs code chosen by whoever sends
  the message: it is read only when asked for (``--zmq-format pickle``); otherwise a
  pickled message is recognised and refused, saying so.

msgpack keeps no numpy dtype: a ``uint16`` frame arrives as a list of ints that
numpy would store as ``int64``. ``resonance_callback._array_types.ArrayTypes`` gives
arrays whose descriptor declares ``dtype_numpy`` their dtype back (as ``replay`` does for
text formats), so the served beamtime holds what the in-process callback would.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from resonance_callback.errors import DocumentError
from resonance_callback.serve._whole import unpack_event

__all__ = ["DOCUMENT_NAMES", "FORMATS", "Delivery", "decode_payload", "nats_document",
           "pack_document", "zmq_document"]

#: The document names bluesky emits (the last token of a bluesky-nats subject).
DOCUMENT_NAMES = frozenset({
    "start", "descriptor", "event", "event_page", "stop", "resource", "datum",
    "datum_page", "stream_resource", "stream_datum",
})

#: Payload formats of ``serve --zmq``: ``auto`` reads msgpack or JSON, whichever each
#: message is; ``pickle`` (unsafe: it executes code sent over the network) only if named.
FORMATS = ("auto", "msgpack", "json", "pickle")


@dataclass
class Delivery:
    """One document received: what it carried and how to acknowledge it.

    ``doc`` is a dict, or the raw payload when it could not be read (the
    callback keeps it as rejected). ``sent`` is when the source stored it
    (the publish time; None when the source does not say). ``reason`` says why a
    message could not be read (``name`` is then what the message claimed, or
    ``"message"``), ``source`` where it came from.
    """

    name: str
    doc: object  # what the message held: a dict when it could be read, not validated
    nbytes: int
    sent: float | None = None
    token: Any = None
    seq: int = 0
    reason: str | None = None
    source: str | None = None


def _key(obj: dict[Any, Any], name: str) -> Any:
    """``obj[name]`` whether msgpack gave the key as text or as bytes (msgpack-numpy)."""
    if name in obj:
        return obj[name]
    return obj.get(name.encode())


def _dtype(declared: Any) -> np.dtype[Any]:
    """A plain or structured numpy dtype; no objects, no subarrays (they multiply sizes)."""
    if isinstance(declared, bytes):
        declared = declared.decode("ascii")
    if isinstance(declared, list):  # a structured dtype's descr: lists where numpy wants tuples
        declared = [tuple(x.decode() if isinstance(x, bytes) else x for x in field)
                    for field in declared]
    dtype: np.dtype[Any] = np.dtype(declared)
    if dtype.hasobject or dtype.subdtype is not None or any(
            dtype[n].subdtype is not None for n in (dtype.names or ())):
        raise DocumentError(f"array dtype {dtype} is refused (objects or subarrays)")
    return dtype


def _ndarray_hook(obj: dict[Any, Any]) -> Any:
    """Read msgpack-numpy's maps (``nd``, ``type``, ``kind``, ``shape``, ``data``).

    Never unpickles: msgpack-numpy packs an object array (``kind`` ``O``) as a
    pickle; such an array is refused. The array takes the bytes that arrived,
    nothing more (its shape must match them).
    """
    if "nd" not in obj and b"nd" not in obj and "complex" not in obj and b"complex" not in obj:
        return obj  # a plain map, as almost every one is: nothing more to look at
    nd = _key(obj, "nd")
    if nd is None or _key(obj, "data") is None or _key(obj, "type") is None:
        if _key(obj, "complex") is True and isinstance(_key(obj, "data"), (str, bytes)):
            data = _key(obj, "data")
            return complex(data.decode() if isinstance(data, bytes) else data)
        return obj
    data = _key(obj, "data")
    if not isinstance(data, bytes):
        return obj
    kind = _key(obj, "kind")
    if kind in (b"O", "O"):
        raise DocumentError("msgpack-numpy object array refused: its data is a pickle")
    dtype = _dtype(_key(obj, "type"))
    if nd is True:
        shape = _key(obj, "shape")
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise DocumentError(f"msgpack-numpy array shape {shape!r} is not a list of sizes")
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if nd is False:
        return np.frombuffer(data, dtype=dtype, count=1)[0]
    return obj


def _whole(value: Any) -> Any:
    """A numpy array as msgpack-numpy's map (its bytes whole), a numpy scalar as a number."""
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        value = np.ascontiguousarray(value)
        return {"nd": True, "type": value.dtype.str, "kind": "", "shape": list(value.shape),
                "data": value.tobytes()}
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not serializable")


def pack_document(doc: dict[str, Any]) -> bytes:
    """``doc`` as msgpack with its arrays whole (msgpack-numpy's maps), for a NATS publisher.

    bluesky-nats packs arrays as msgpack lists, one number at a time, which
    the service must read back one number at a time; packed by this function,
    an array is its bytes, read back in one call (``np.frombuffer``). Readable
    by ``msgpack_numpy`` too.
    """
    from resonance_callback._extras import needs_extra

    with needs_extra("serve", "ormsgpack", "packing documents for NATS"):
        import ormsgpack
    return ormsgpack.packb(doc, default=_whole, option=ormsgpack.OPT_NAIVE_UTC)


def _msgpack(payload: bytes) -> Any:
    return msgpack.unpackb(payload, raw=False, strict_map_key=False, object_hook=_ndarray_hook)


def _json(payload: bytes) -> Any:
    return json.loads(payload)


def sniff(payload: bytes) -> str:
    """The format a payload is in, from its first byte: msgpack, json or pickle."""
    head = payload[:1]
    if payload[:1] == b"\x80" and len(payload) > 1 and payload[1:2] in b"\x02\x03\x04\x05":
        return "pickle"  # PROTO opcode (a 1-byte msgpack map \x80 is empty)
    if head and head in b"{[ \t\r\n":
        return "json"
    if head and (0x80 <= head[0] <= 0x8F or head[0] in (0xDE, 0xDF)):
        return "msgpack"
    if head in (b"(", b"}", b"]") or (head and head[0] < 0x20 and payload[-1:] == b"."):
        return "pickle"  # protocol 0/1 pickles start with an opcode and end with STOP
    return "unknown"


def decode_payload(payload: bytes, fmt: str) -> Any:
    """The object a payload holds, read as ``fmt`` (one of :data:`FORMATS`).

    Raises
    ------
    DocumentError
        The payload is not in the format, or is a pickle and ``fmt`` is not
        ``"pickle"`` (refused: unpickling runs code chosen by the sender).
    """
    found = sniff(payload)
    if fmt == "auto":
        fmt = found if found in ("msgpack", "json") else fmt
    if fmt == "pickle":
        return pickle.loads(payload)  # noqa: S301 - asked for explicitly (--zmq-format pickle)
    if found == "pickle":
        raise DocumentError("payload is a pickle: refused, unpickling runs code chosen by the "
                            "sender (serve --zmq-format pickle reads it, on a trusted bus only)")
    if fmt == "auto":
        raise DocumentError("payload is neither msgpack nor JSON")
    try:
        return _msgpack(payload) if fmt == "msgpack" else _json(payload)
    except DocumentError:
        raise
    except (ValueError, TypeError, RecursionError, msgpack.ExtraData,
            msgpack.FormatError, msgpack.StackError) as exc:
        raise DocumentError(f"payload is not {fmt} ({type(exc).__name__}: {exc})") from exc


def nats_document(subject: str, payload: bytes, *, whole: bool = False
                  ) -> tuple[str, dict[str, object]]:
    """``(name, doc)`` of one bluesky-nats message.

    ``whole``: an event's arrays of numbers arrive as :class:`._whole.Numbers`
    (read whole), for :class:`._whole.WholeTypes` to type.

    Raises
    ------
    DocumentError
        The subject's last token is no document name, or the payload is not a msgpack map.
    """
    name = subject.rsplit(".", 1)[-1]
    if name not in DOCUMENT_NAMES:
        raise DocumentError(f"subject {subject!r} names no bluesky document")
    try:
        doc = None
        if whole and name in ("event", "event_page"):
            doc = unpack_event(payload, name == "event_page", _ndarray_hook)
        if doc is None:
            doc = _msgpack(payload)
    except Exception as exc:
        raise DocumentError(f"subject {subject!r}: payload is not msgpack ({exc})") from exc
    if not isinstance(doc, dict):
        raise DocumentError(f"subject {subject!r}: payload is a {type(doc).__name__}, "
                            "not a document")
    return name, doc


def zmq_document(message: bytes, prefix: bytes = b"", fmt: str = "auto"
                 ) -> tuple[str, dict[str, object]] | None:
    """``(name, doc)`` of one message of bluesky's 0MQ publisher; None if another prefix's.

    Parameters
    ----------
    message : bytes
        ``b"<prefix> <name> <payload>"``.
    prefix : bytes, optional
        The publisher's prefix; messages of other prefixes are ignored.
    fmt : str, optional
        How the payload is read, one of :data:`FORMATS` (``auto``: msgpack or JSON).

    Raises
    ------
    DocumentError
        The message is not ``prefix name doc``, or its document cannot be read (a
        pickle unless ``fmt`` is ``"pickle"``).
    """
    parts = message.split(b" ", 2)
    if len(parts) != 3:
        raise DocumentError(f"0MQ message of {len(message)} bytes is not 'prefix name doc'")
    got_prefix, raw_name, raw_doc = parts
    if got_prefix != prefix:
        return None
    name = raw_name.decode("utf-8", "backslashreplace")
    if name not in DOCUMENT_NAMES:
        raise DocumentError(f"0MQ message names no bluesky document: {name[:100]!r}")
    try:
        doc = decode_payload(raw_doc, fmt)
    except DocumentError as exc:
        raise DocumentError(f"0MQ {name} document of {len(raw_doc)} bytes: {exc}") from exc
    except Exception as exc:
        raise DocumentError(f"0MQ {name} document of {len(raw_doc)} bytes cannot be read "
                            f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(doc, dict):
        raise DocumentError(f"0MQ {name} document is a {type(doc).__name__}, not a dict")
    return name, doc
