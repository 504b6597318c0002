"""A JetStream message as a :class:`Delivery`, decoded where it arrives, its payload let go."""

from __future__ import annotations

import logging
from typing import Any

from resonance_callback.errors import DocumentError
from resonance_callback.serve._wire import Delivery, nats_document

log = logging.getLogger("resonance_callback.serve")


def decoded(subject: str, data: bytes, seq: int, sent: float | None, token: Any) -> Delivery:
    """The document message ``seq`` holds, or a record of why it cannot be read."""
    doc: Any
    reason = None
    try:
        name, doc = nats_document(subject, data)
    except DocumentError as exc:
        reason = f"message {seq}: {exc}"
        log.error("%s", reason)
        name = "message"
        doc = {"subject": subject[:1000], "sequence": seq, "nbytes": len(data),
               "head": bytes(data[:256]).decode("latin-1"), "reason": reason}
    return Delivery(name, doc, len(data), sent, token, seq, reason, subject)


def _delivery(msg: Any) -> Delivery:
    meta = msg.metadata
    sent = meta.timestamp.timestamp() if meta.timestamp is not None else None
    delivery = decoded(msg.subject, msg.data, meta.sequence.stream, sent, msg)
    msg.data = b""  # the payload is in ``doc`` now; what waits for its ack stays small
    return delivery


def stored(raw: Any) -> Delivery:
    """A message read back by sequence (``get_msg``): nothing to acknowledge."""
    sent = raw.time.timestamp() if raw.time is not None else None
    return decoded(raw.subject or "", raw.data or b"", int(raw.seq or 0), sent, None)
