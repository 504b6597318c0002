"""What the service needs of a source, and what it counts (:class:`ServiceStats`).

The sources: :class:`~._nats.NatsSource` (JetStream, acknowledged after
commit, its position recorded), :class:`~._kafka.KafkaSource` (a consumer
group, offsets committed after commit), :class:`~._zmq.ZmqSource` (bluesky's
0MQ proxy, at most once), and :class:`~._lease.LeasedSource` around a NATS one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from resonance_callback.serve._wire import Delivery

__all__ = ["ServiceStats", "Source"]


class Source(Protocol):
    """What the service needs of a source (module documentation)."""

    kind: str
    acknowledges: bool

    @property
    def caught_up(self) -> bool:
        """Whether the last fetch took everything the source had (the service commits then)."""

    def describe(self) -> str: ...  # noqa: D102
    async def open(self) -> None: ...  # noqa: D102
    async def recover(self, feed: Any) -> int: ...  # noqa: D102
    async def fetch(self, timeout: float) -> tuple[list[Delivery], list[Delivery]]: ...  # noqa: D102
    def position(self) -> object: ...  # noqa: D102
    async def committed(self, position: object) -> None: ...  # noqa: D102
    async def ack(self, deliveries: list[Delivery]) -> None: ...  # noqa: D102
    async def lag(self) -> int | None: ...  # noqa: D102
    async def close(self) -> None: ...  # noqa: D102


@dataclass
class ServiceStats:
    """What the service has done so far.

    Attributes
    ----------
    documents : int
        Documents fed to the writer (not counting recovery and redeliveries).
    recovered : int
        Documents fed again at start-up to resume runs open at a crash.
    redelivered : int
        Documents delivered twice in this session, acknowledged and not fed again.
    acknowledged : int
        Documents acknowledged (after their rows were committed).
    runs_open : int
        Runs started and not yet stopped, as the service saw them.
    rejected : int
        Documents the callbacks kept as rejected.
    errors : int
        Messages that could not be read, and documents that could not be handed over.
    latencies : deque of float
        Seconds from publish (as the source stamps it) to commit, per document
        (the most recent 200,000).
    """

    documents: int = 0
    recovered: int = 0
    redelivered: int = 0
    acknowledged: int = 0
    runs_open: int = 0
    rejected: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=200_000))
