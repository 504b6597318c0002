"""Pull requests to a JetStream consumer, bounded by bytes, the next one asked for early.

nats-py's ``fetch`` sends a request per call and returns what came first (often
one message in a backlog). :class:`Puller` keeps one pull request open at a time
on its own inbox: at most ``batch`` messages and ``max_bytes`` of payload, so what
waits in this process is bounded by bytes, whatever the messages' sizes. As soon
as a request is served (its last message received, or the server says it ended),
the next is sent, so the server streams the next batch while the service writes
the one before: fetching overlaps writing and committing, and memory holds at most
one request's bytes beyond what is being written.

A message larger than ``max_bytes`` would never be served: the bound is raised to
the server's largest message (``max_payload``) at least.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from typing import Any

log = logging.getLogger("resonance_callback.serve")

__all__ = ["Puller"]

#: Status codes that end a pull request (no messages, expired, a bound reached, gone).
_ENDS = frozenset({"404", "408", "409"})


class Puller:
    """One open pull request at a time on ``consumer`` of ``stream``, messages kept in order.

    Parameters
    ----------
    nc : nats.aio.client.Client
        A connected client.
    stream, consumer : str
        The JetStream stream and its (durable) pull consumer.
    batch : int
        Messages per request at most.
    max_bytes : int
        Payload bytes per request at most (raised to the server's ``max_payload``).
    expires : float
        Seconds a request waits on the server for messages before it ends.
    prefix : str, optional
        The JetStream API prefix.
    """

    def __init__(self, nc: Any, stream: str, consumer: str, *, batch: int, max_bytes: int,
                 expires: float = 5.0, prefix: str = "$JS.API") -> None:
        self._nc = nc
        self._next = f"{prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.batch = batch
        self.max_bytes = max(max_bytes, int(getattr(nc, "max_payload", 0) or 0) + 4096)
        self.expires = expires
        self._inbox = ""
        self._sub: Any = None
        self._queue: deque[Any] = deque()
        self._arrived = asyncio.Event()
        self._open = False  # a request is being served
        self._left = 0  # messages it may still bring
        self._deadline = 0.0  # when it is given up for lost (a reconnect drops it)
        self.requests = 0

    async def open(self) -> None:
        """Subscribe to this puller's inbox."""
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_msg,
                                             pending_msgs_limit=-1, pending_bytes_limit=-1)

    async def _on_msg(self, msg: Any) -> None:
        self._queue.append(msg)
        self._arrived.set()

    async def _request(self) -> None:
        body = {"batch": self.batch, "max_bytes": self.max_bytes,
                "expires": int(self.expires * 1e9)}
        await self._nc.publish(self._next, json.dumps(body).encode(), reply=self._inbox)
        self._open, self._left = True, self.batch
        self._deadline = time.monotonic() + self.expires + 1.0
        self.requests += 1

    async def take(self, timeout: float) -> list[Any]:
        """The messages received so far (waiting up to ``timeout`` for a first one).

        Status messages are consumed here; a request that ended is followed by the
        next one at once.
        """
        if not self._open or time.monotonic() > self._deadline:
            await self._request()
        if not self._queue:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                return []
        msgs = []
        while self._queue:
            msg = self._queue.popleft()
            headers = msg.headers
            status = headers.get("Status") if headers else None
            if status is None:
                msgs.append(msg)
                self._left -= 1
                if self._left <= 0:
                    self._open = False
            elif status in _ENDS or not status.startswith("1"):
                if status not in _ENDS:
                    log.debug("pull request ended with status %s %s", status,
                              headers.get("Description", ""))
                self._open = False
            else:  # a heartbeat: the request is alive
                self._deadline = time.monotonic() + self.expires + 1.0
        if not self._open:
            await self._request()  # the server sends the next batch while this one is written
        return msgs

    def lost(self) -> None:
        """The connection was lost: the open request is gone with it; ask again."""
        self._open = False

    async def close(self) -> None:
        """Stop receiving (messages not taken are redelivered by the server)."""
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception as exc:  # noqa: BLE001 - closing anyway
                log.debug("unsubscribing %s: %s", self._inbox, exc)
