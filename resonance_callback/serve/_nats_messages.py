"""A JetStream message as a :class:`Delivery`, decoded where it arrives, its payload let go."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from resonance_callback.errors import DocumentError
from resonance_callback.serve._wire import Delivery, nats_document

log = logging.getLogger("resonance_callback.serve")


def decoded(subject: str, data: bytes, seq: int, sent: float | None, token: Any) -> Delivery:
    """The document message ``seq`` holds, or a record of why it cannot be read."""
    doc: Any
    reason = None
    try:
        name, doc = nats_document(subject, data, whole=True)
    except DocumentError as exc:
        reason = f"message {seq}: {exc}"
        log.error("%s", reason)
        name = "message"
        doc = {"subject": subject[:1000], "sequence": seq, "nbytes": len(data),
               "head": bytes(data[:256]).decode("latin-1"), "reason": reason}
    return Delivery(name, doc, len(data), sent, token, seq, reason, subject)


class Sequences(NamedTuple):
    """Where a delivered message stands: in the stream, in the consumer's deliveries."""

    stream: int
    consumer: int
    sent: float | None
    pending: int | None = None  # messages of the consumer not yet delivered behind it


def _sequences(msg: Any) -> Sequences:
    """The sequences and publish time of a message, read from its reply subject.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ns>.<pending>``
    (with a domain and an account hash after ``ACK`` on newer servers); anything else
    through nats-py's own reading.
    """
    tokens = (msg.reply or "").split(".")
    if len(tokens) in (9, 11, 12) and tokens[0] == "$JS" and tokens[1] == "ACK":
        at = 5 if len(tokens) == 9 else 7
        try:
            return Sequences(int(tokens[at]), int(tokens[at + 1]), int(tokens[at + 2]) / 1e9,
                             int(tokens[at + 3]))
        except ValueError:
            pass
    meta = msg.metadata
    return Sequences(meta.sequence.stream, meta.sequence.consumer,
                     meta.timestamp.timestamp() if meta.timestamp is not None else None,
                     meta.num_pending)


def _delivery(msg: Any, seq: Sequences | None = None) -> Delivery:
    seq = seq or _sequences(msg)
    delivery = decoded(msg.subject, msg.data, seq.stream, seq.sent, msg)
    msg.data = b""  # the payload is in ``doc`` now; what waits for its ack stays small
    return delivery


def stored(raw: Any) -> Delivery:
    """A message read back by sequence (``get_msg``): nothing to acknowledge."""
    sent = raw.time.timestamp() if raw.time is not None else None
    return decoded(raw.subject or "", raw.data or b"", int(raw.seq or 0), sent, None)
