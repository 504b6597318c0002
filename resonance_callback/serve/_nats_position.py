"""Where the service stands in the stream, recorded with each commit, so a restart starts there.

:class:`OpenRuns` follows, document by document, which runs are open and the
stream sequences of what a fresh callback needs to go on with each (its ``start``,
descriptors, resources, stream resources, and its latest datums). Once a commit
returns, :class:`Checkpoints` records ``(sequence, open runs)`` as of that commit
in a JetStream key-value bucket beside the stream, before the acknowledgements are
sent. After a crash, recovery reads the record: the open runs' headers are fetched
by sequence, and the stream is read from the recorded sequence on, whatever the
stream's length. Without a record (a first start, or a bucket that cannot be made)
recovery reads the stream from its first message, as before.

The record is what the service's own process wrote; read back, it is checked (a
JSON object of the expected shape, no larger than :data:`MAX_RECORD`), and one
that is not is ignored with a warning (the slow, complete recovery).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.serve._open_runs import Position

with needs_extra("serve", "nats-py", "serving from NATS"):
    import nats.js.errors

log = logging.getLogger("resonance_callback.serve")

__all__ = ["BUCKET", "Checkpoints", "durable_key"]

#: The key-value bucket holding every durable consumer's position.
BUCKET = "resonance-serve-positions"

#: The largest record written or read (runs in flight times their headers).
MAX_RECORD = 512 * 1024

_KEY = re.compile(r"[^A-Za-z0-9_=-]")


def durable_key(stream: str, durable: str) -> str:
    """``<stream>.<durable>`` in the characters a key-value key may hold (one per durable)."""
    return _KEY.sub("_", stream) + "." + _KEY.sub("_", durable)


class Checkpoints:
    """The position of one durable consumer, in a key-value bucket of its server."""

    def __init__(self, js: Any, stream: str, durable: str) -> None:
        self._js = js
        self._key = durable_key(stream, durable)
        self._kv: Any = None
        self._broken = False
        self.written = 0

    async def _bucket(self, create: bool) -> Any:
        if self._kv is None and not self._broken:
            try:
                self._kv = await self._js.key_value(BUCKET)
            except nats.js.errors.BucketNotFoundError:
                if not create:
                    return None
                try:
                    self._kv = await self._js.create_key_value(bucket=BUCKET, history=1)
                except Exception as exc:  # noqa: BLE001 - recovery reads the whole stream
                    self._broken = True
                    log.warning("cannot make the key-value bucket %s for the service's position "
                                "(%s): a restart reads the stream from its first message",
                                BUCKET, exc)
        return self._kv

    async def load(self) -> Position | None:
        """The position recorded last, or None (none, or not one this service writes).

        A server slow to answer is asked three times; then the stream is read from
        its first message, saying so.
        """
        failure: Exception | None = None
        for _attempt in range(3):
            try:
                kv = await self._bucket(create=False)
                if kv is None:
                    return None
                entry = await kv.get(self._key)
                break
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                return None
            except Exception as exc:  # noqa: BLE001 - asked again, then the whole stream
                failure = exc
                await asyncio.sleep(0.5)
        else:
            log.warning("the position recorded in %s/%s cannot be read (%s): reading the "
                        "stream from its first message", BUCKET, self._key, failure)
            return None
        raw = entry.value or b""
        try:
            if len(raw) > MAX_RECORD:
                raise ValueError(f"{len(raw)} bytes")
            return _parse(json.loads(raw))
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("the position recorded in %s/%s is not one this service writes (%s): "
                        "reading the stream from its first message", BUCKET, self._key, exc)
            return None

    async def save(self, position: Position) -> None:
        """Record ``position`` (a failure is logged: the next restart reads further back)."""
        raw = json.dumps({"seq": position.seq, "created": position.created,
                          "runs": position.runs}).encode()
        if len(raw) > MAX_RECORD:
            log.warning("position at message %d not recorded: %d runs in flight take %d bytes",
                        position.seq, len(position.runs), len(raw))
            return
        try:
            kv = await self._bucket(create=True)
            if kv is not None:
                await kv.put(self._key, raw)
                self.written += 1
        except Exception as exc:  # noqa: BLE001 - the acknowledgements still go
            log.warning("position at message %d not recorded: %s", position.seq, exc)


def _parse(obj: Any) -> Position:
    if not isinstance(obj, dict):
        raise TypeError("not an object")
    seq, runs = obj["seq"], obj["runs"]
    if type(seq) is not int or seq < 0 or not isinstance(runs, dict):
        raise TypeError("seq or runs of the wrong type")
    for uid, seqs in runs.items():
        if not isinstance(seqs, list) or not all(type(s) is int and 0 < s <= seq for s in seqs):
            raise TypeError(f"run {uid!r}: sequences are not ones before {seq}")
    return Position(seq, runs, str(obj.get("created", "")))
