"""bluesky's 0MQ proxy as a source: at most once, by the nature of 0MQ PUB/SUB.

The service subscribes to the proxy's *out* port (``bluesky-0MQ-proxy IN OUT``,
fed by ``bluesky.callbacks.zmq.Publisher``). Nothing is acknowledged and
nothing is kept by the proxy: a document sent while the service is not
connected (or dropped by 0MQ's high-water mark) is gone. A run whose documents
stop arriving stays open in its beamtime (``exit_status`` NULL while the
service runs; ``interrupted`` once a writer or ``repair`` opens the beamtime
after the service stopped), never silently half-written: ``check`` lists it.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import DocumentError, SourceError
from resonance_callback.serve._wire import Delivery, zmq_document

with needs_extra("serve", "pyzmq", "serving from a 0MQ proxy"):
    import zmq
    import zmq.asyncio

__all__ = ["ZmqSource", "parse_address"]

log = logging.getLogger("resonance_callback.serve")


def parse_address(address: str) -> str:
    """``HOST:PORT`` (or a full ``tcp://`` address) as a 0MQ endpoint.

    Raises
    ------
    SourceError
        The address has no port, or the port is not a number.
    """
    if "://" in address:
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SourceError(f"0MQ address {address!r} is not HOST:PORT")
    return f"tcp://{host}:{port}"


class ZmqSource:
    """Subscribe to a bluesky 0MQ proxy's out port.

    Parameters
    ----------
    address : str
        ``HOST:PORT`` of the proxy's out port.
    prefix : bytes, optional
        The publisher's ``prefix`` (messages of other prefixes are ignored).
    deserializer : callable, optional
        The inverse of the publisher's serializer (``pickle.loads``, bluesky's default).
    batch : int, optional
        Messages taken per fetch at most.
    """

    kind = "zmq"
    acknowledges = False

    def __init__(self, address: str, *, prefix: bytes = b"",
                 deserializer: Callable[[bytes], Any] = pickle.loads, batch: int = 256) -> None:
        self.address = parse_address(address)
        self.prefix = prefix
        self.deserializer = deserializer
        self.batch = batch
        self._context: Any = None
        self._socket: Any = None

    def describe(self) -> str:
        """One line saying what is read."""
        return f"0MQ {self.address} (at most once)"

    async def open(self) -> None:
        """Connect to the proxy and subscribe to everything."""
        try:
            self._context = zmq.asyncio.Context()
            self._socket = self._context.socket(zmq.SUB)
            self._socket.connect(self.address)
            self._socket.setsockopt(zmq.SUBSCRIBE, b"")
        except zmq.ZMQError as exc:
            raise SourceError(f"cannot subscribe to 0MQ {self.address}: {exc}") from exc

    async def recover(self, feed: Any) -> int:
        """Nothing to recover: 0MQ keeps nothing."""
        return 0

    async def fetch(self, timeout: float) -> tuple[list[Delivery], list[Delivery]]:
        """Messages waiting (up to ``batch``), waiting at most ``timeout`` for the first."""
        out: list[Delivery] = []
        wait_ms = int(timeout * 1000)
        while len(out) < self.batch:
            if not await self._socket.poll(wait_ms):
                break
            wait_ms = 0
            message = await self._socket.recv()
            now = time.time()
            try:
                got = zmq_document(message, self.prefix, self.deserializer)
            except DocumentError as exc:
                log.error("%s", exc)
                out.append(Delivery("unreadable", message, len(message), now))
                continue
            if got is not None:
                out.append(Delivery(got[0], got[1], len(message), now))
        return out, []

    async def ack(self, deliveries: list[Delivery]) -> None:
        """0MQ has no acknowledgements."""

    async def lag(self) -> int | None:
        """Unknown for 0MQ."""
        return None

    async def close(self) -> None:
        """Close the socket."""
        if self._context is not None:
            self._context.destroy(linger=0)  # closes the socket; never waits on the network
