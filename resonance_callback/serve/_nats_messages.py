"""A JetStream message as a :class:`Delivery`, and the keys that tie a document to its run."""

from __future__ import annotations

import logging
from typing import Any

from resonance_callback.errors import DocumentError
from resonance_callback.serve._wire import Delivery, nats_document

log = logging.getLogger("resonance_callback.serve")


#: Keys that tie a document to its run, for the recovery scan.
_REFS = ("run_start", "descriptor", "resource", "stream_resource")


def _delivery(msg: Any) -> Delivery:
    doc: Any
    reason = None
    meta = msg.metadata
    try:
        name, doc = nats_document(msg.subject, msg.data)
    except DocumentError as exc:
        reason = f"message {meta.sequence.stream}: {exc}"
        log.error("%s", reason)
        name = "message"
        doc = {"subject": msg.subject[:1000], "sequence": meta.sequence.stream,
               "nbytes": len(msg.data), "head": bytes(msg.data[:256]).decode("latin-1"),
               "reason": reason}
    sent = meta.timestamp.timestamp() if meta.timestamp is not None else None
    delivery = Delivery(name, doc, len(msg.data), sent, msg, meta.sequence.stream, reason,
                        msg.subject)
    msg.data = b""  # the payload is in ``doc`` now; what waits for its ack stays small
    return delivery
