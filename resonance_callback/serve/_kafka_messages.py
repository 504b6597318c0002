"""A Kafka message as a :class:`~._wire.Delivery`: bluesky-kafka's ``(name, doc)`` pair."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import DocumentError
from resonance_callback.serve._wire import DOCUMENT_NAMES, Delivery, decode_payload

with needs_extra("kafka", "confluent-kafka", "serving from Kafka"):
    import confluent_kafka as ck

__all__ = ["KafkaReader", "kafka_document"]

log = logging.getLogger("resonance_callback.serve")

#: What a message that cannot be read keeps of its payload, for the record.
HEAD_BYTES = 256


def kafka_document(value: bytes) -> tuple[str, dict[str, object]]:
    """``(name, doc)`` of one bluesky-kafka message (msgpack of the pair).

    Raises
    ------
    DocumentError
        The value is not msgpack, not a ``[name, doc]`` pair, or names no document.
    """
    pair = decode_payload(value, "msgpack")
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise DocumentError(f"Kafka message of {len(value)} bytes is not a (name, doc) pair")
    name, doc = pair
    if not isinstance(name, str) or name not in DOCUMENT_NAMES:
        raise DocumentError(f"Kafka message names no bluesky document: {str(name)[:100]!r}")
    if not isinstance(doc, dict):
        raise DocumentError(f"Kafka {name} document is a {type(doc).__name__}, not a dict")
    return name, doc


class KafkaReader:
    """Turn the messages of one topic into deliveries; the unreadable ones into records.

    A delivery's ``token`` is ``(partition, offset)``, its ``seq`` the offset.
    """

    def __init__(self, bootstrap: str, topic: str, max_bytes: int) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.max_bytes = max_bytes

    def read(self, msgs: Iterable[Any]) -> Iterator[Delivery]:
        """The deliveries of ``msgs``; errors (not end-of-partition) are logged."""
        for msg in msgs:
            if msg.error() is not None:
                if msg.error().code() != ck.KafkaError._PARTITION_EOF:
                    log.warning("Kafka %s: %s", self.bootstrap, msg.error().str())
                continue
            yield self.delivery(msg)

    def delivery(self, msg: Any) -> Delivery:
        """One message as a delivery, or as a record of why it cannot be read."""
        value = msg.value() or b""
        token = (msg.partition(), msg.offset())
        kind, stamp = msg.timestamp()
        sent = stamp / 1000 if kind != ck.TIMESTAMP_NOT_AVAILABLE else None
        where = f"{self.topic}[{msg.partition()}]@{msg.offset()}"
        try:
            if len(value) > self.max_bytes:
                raise DocumentError(f"message of {len(value)} bytes is over the bound of "
                                    f"{self.max_bytes} bytes: not read")
            name, doc = kafka_document(value)
        except DocumentError as exc:
            reason = f"Kafka message {where}: {exc}"
            log.error("%s", reason)
            record = {"source": self.bootstrap, "topic": self.topic, "partition": token[0],
                      "offset": token[1], "nbytes": len(value),
                      "head": value[:HEAD_BYTES].decode("latin-1"), "reason": reason}
            return Delivery("message", record, len(value), sent, token, token[1], reason,
                            where)
        return Delivery(name, doc, len(value), sent, token, token[1], source=where)
