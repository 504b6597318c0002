"""bluesky's 0MQ proxy as a source: at most once, by the nature of 0MQ PUB/SUB.

The service subscribes to the proxy's *out* port (``bluesky-0MQ-proxy IN OUT``,
fed by ``bluesky.callbacks.zmq.Publisher``). Nothing is acknowledged and
nothing is kept by the proxy: a document sent while the service is not
connected (or dropped by 0MQ's high-water mark) is gone. A run whose documents
stop arriving stays open in its beamtime (``exit_status`` NULL while the
service runs; ``interrupted`` once a writer or ``repair`` opens the beamtime
after the service stopped), never silently half-written: ``check`` lists it.

What is read: msgpack or JSON (``fmt="auto"``), pickle only when asked for
(:mod:`._wire`). A message larger than ``max_bytes`` is refused by 0MQ itself
(``zmq.MAXMSGSIZE``) before it is read: 0MQ then drops the connection to the
proxy (and with it what the proxy had queued for the service) and says only
that it did. The service records the refusal (by the bound and the proxy's
address: 0MQ does not say the size), opens a new connection, and goes on.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import DocumentError, SourceError
from resonance_callback.serve._wire import FORMATS, Delivery, zmq_document

with needs_extra("serve", "pyzmq", "serving from a 0MQ proxy"):
    import zmq
    import zmq.asyncio
    from zmq.utils.monitor import parse_monitor_message

__all__ = ["DEFAULT_MAX_BYTES", "ZmqSource", "parse_address"]

log = logging.getLogger("resonance_callback.serve")

#: The default bound on one 0MQ message (``--zmq-max-bytes``).
DEFAULT_MAX_BYTES = 64 * 1024**2

#: Messages 0MQ queues for the service before it drops newer ones (``zmq.RCVHWM``,
#: 0MQ's default): with ``max_bytes`` that bounds what waits in memory; fewer would
#: drop documents of a fast scan while the service writes.
RECEIVE_QUEUE = 1000

#: What a message that cannot be read keeps of its payload, for the record.
HEAD_BYTES = 256


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


def unreadable(message: bytes, reason: str, source: str, now: float) -> Delivery:
    """A message that cannot be read, as a small record: its size, head and the reason."""
    head = message[:HEAD_BYTES]
    record = {"source": source, "nbytes": len(message),
              "head": head.decode("latin-1"), "reason": reason}
    return Delivery("message", record, len(message), now, reason=reason, source=source)


class ZmqSource:
    """Subscribe to a bluesky 0MQ proxy's out port.

    Parameters
    ----------
    address : str
        ``HOST:PORT`` of the proxy's out port.
    prefix : bytes, optional
        The publisher's ``prefix`` (messages of other prefixes are ignored).
    fmt : str, optional
        How payloads are read: ``"auto"`` (msgpack or JSON, each message as it
        comes), ``"msgpack"``, ``"json"``, or ``"pickle"`` (runs code sent over the
        network: only on a bus nobody else can publish to).
    max_bytes : int, optional
        The largest message read (``zmq.MAXMSGSIZE``); larger ones are refused unread.
    batch : int, optional
        Messages taken per fetch at most.
    """

    kind = "zmq"
    acknowledges = False
    caught_up = False  # the last fetch emptied the socket

    def __init__(self, address: str, *, prefix: bytes = b"", fmt: str = "auto",
                 max_bytes: int = DEFAULT_MAX_BYTES, batch: int = 256) -> None:
        if fmt not in FORMATS:
            raise SourceError(f"0MQ format {fmt!r} is not one of {', '.join(FORMATS)}")
        if max_bytes < 1:
            raise SourceError(f"0MQ message bound {max_bytes} is not a positive size")
        self.address = parse_address(address)
        self.prefix = prefix
        self.fmt = fmt
        self.max_bytes = max_bytes
        self.batch = batch
        self.dropped = 0  # connections 0MQ dropped (an oversized message, or the proxy went)
        self._context: Any = None
        self._socket: Any = None
        self._monitor: Any = None

    def describe(self) -> str:
        """One line saying what is read."""
        unsafe = " - UNSAFE, executes code sent over the network" if self.fmt == "pickle" else ""
        return (f"0MQ {self.address} (at most once; {self.fmt}{unsafe}; "
                f"messages up to {self.max_bytes} bytes)")

    async def open(self) -> None:
        """Connect to the proxy and subscribe to everything."""
        try:
            self._context = zmq.asyncio.Context()
            self._connect()
        except zmq.ZMQError as exc:
            raise SourceError(f"cannot subscribe to 0MQ {self.address}: {exc}") from exc
        if self.fmt == "pickle":
            log.warning("0MQ %s: reading pickles (--zmq-format pickle): anyone who can "
                        "publish to the proxy runs code as this service", self.address)

    def _connect(self) -> None:
        socket = self._context.socket(zmq.SUB)
        socket.setsockopt(zmq.MAXMSGSIZE, self.max_bytes)
        socket.setsockopt(zmq.RCVHWM, RECEIVE_QUEUE)
        socket.setsockopt(zmq.LINGER, 0)
        self._monitor = socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        socket.connect(self.address)
        socket.setsockopt(zmq.SUBSCRIBE, b"")
        self._socket = socket

    async def _dropped(self, now: float) -> list[Delivery]:
        """Connections 0MQ dropped since the last look: recorded, then a new connection.

        0MQ drops the connection when a message exceeds ``MAXMSGSIZE`` and does
        not connect again by itself; it says only that it disconnected.
        """
        events = 0
        while await self._monitor.poll(0):
            message = parse_monitor_message(await self._monitor.recv_multipart())
            if message["event"] == zmq.EVENT_DISCONNECTED:
                events += 1
        if not events:
            return []
        out = []
        while await self._socket.poll(0):  # what arrived before the drop is read first
            message = await self._socket.recv()
            out.extend(self._read(message, now))
        self._socket.disable_monitor()
        self._monitor.close(linger=0)
        self._socket.close(linger=0)
        self._connect()
        self.dropped += events
        reason = (f"0MQ dropped the connection to {self.address}: a message over "
                  f"{self.max_bytes} bytes (--zmq-max-bytes) is refused unread, or the "
                  "proxy closed it; what the proxy held for the service is lost; reconnected")
        log.error("%s", reason)
        record = {"source": self.address, "max_bytes": self.max_bytes, "reason": reason}
        out.append(Delivery("message", record, 0, now, reason=reason, source=self.address))
        return out

    def _read(self, message: bytes, now: float) -> list[Delivery]:
        try:
            got = zmq_document(message, self.prefix, self.fmt)
        except DocumentError as exc:
            log.error("%s from %s", exc, self.address)
            return [unreadable(message, str(exc), self.address, now)]
        if got is None:
            return []
        return [Delivery(got[0], got[1], len(message), now, source=self.address)]

    async def recover(self, feed: Any) -> int:
        """Nothing to recover: 0MQ keeps nothing."""
        return 0

    async def fetch(self, timeout: float) -> tuple[list[Delivery], list[Delivery]]:
        """Messages waiting (up to ``batch``), waiting at most ``timeout`` for the first."""
        out: list[Delivery] = []
        wait_ms = int(timeout * 1000)
        self.caught_up = False
        while len(out) < self.batch:
            if not await self._socket.poll(wait_ms):
                self.caught_up = bool(out)
                break
            wait_ms = 0
            message = await self._socket.recv()
            out.extend(self._read(message, time.time()))
            del message  # the payload is decoded: it is not kept while the batch is fed
        out.extend(await self._dropped(time.time()))
        return out, []

    def position(self) -> None:
        """0MQ has no position to resume from."""

    async def committed(self, position: object) -> None:
        """Nothing to record: 0MQ cannot be read again."""

    async def ack(self, deliveries: list[Delivery]) -> None:
        """0MQ has no acknowledgements."""

    async def lag(self) -> int | None:
        """Unknown for 0MQ."""
        return None

    async def close(self) -> None:
        """Close the socket."""
        if self._context is not None:
            self._context.destroy(linger=0)  # closes the socket; never waits on the network
