"""Run a service in the foreground: signals drain it, the exit says how it ended."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from resonance_callback.errors import SourceError
from resonance_callback.serve._route import BeamtimeRouter
from resonance_callback.serve._service import Service
from resonance_callback.serve._source import ServiceStats, Source

__all__ = ["make_source", "serve"]

log = logging.getLogger("resonance_callback.serve")


def make_source(*, zmq: str | None = None, nats: str | None = None, stream: str | None = None,
                subject: str | None = None, durable: str = "resonance-callback",
                zmq_prefix: bytes = b"", ack_wait: float = 30.0, zmq_format: str = "auto",
                zmq_max_bytes: int | None = None, kafka: str | None = None,
                topic: str | None = None, group: str = "resonance-callback",
                session_timeout: float = 10.0, lease: float = 0.0) -> Source:
    """The source the command line names: a 0MQ proxy's out port, a NATS stream, or Kafka.

    ``zmq_format`` is how 0MQ payloads are read (``auto``: msgpack or JSON;
    ``pickle`` runs code sent over the network), ``zmq_max_bytes`` the largest 0MQ
    message read (default :data:`~._zmq.DEFAULT_MAX_BYTES`). ``kafka`` (the brokers),
    ``topic`` and ``group`` name a Kafka topic read by a consumer group
    (``session_timeout``: seconds before the group hands a silent member's partitions on).
    ``lease`` > 0: a NATS source fetches only while it holds its durable's lease
    (:class:`~._lease.Lease`, that many seconds), so one process serves a durable at a time.

    Raises
    ------
    SourceError
        Not exactly one source given, NATS without a stream, Kafka without a topic,
        or a 0MQ format or bound that is not one.
    MissingExtraError
        The ``serve`` extra (nats-py, pyzmq), or the ``kafka`` extra, is not installed.
    """
    if sum(x is not None for x in (zmq, nats, kafka)) != 1:
        raise SourceError("give one source: --zmq HOST:PORT, --nats URL --stream NAME, or "
                          "--kafka HOST:PORT --topic NAME")
    if kafka is not None:
        if not topic:
            raise SourceError(f"--kafka {kafka} needs --topic NAME (the topic to read)")
        from resonance_callback.serve._kafka import KafkaSource
        return KafkaSource(kafka, topic, group=group, session_timeout=session_timeout)
    if zmq is not None:
        from resonance_callback.serve._zmq import DEFAULT_MAX_BYTES, ZmqSource
        return ZmqSource(zmq, prefix=zmq_prefix, fmt=zmq_format,
                         max_bytes=DEFAULT_MAX_BYTES if zmq_max_bytes is None else zmq_max_bytes)
    if not stream:
        raise SourceError(f"--nats {nats} needs --stream NAME (the JetStream stream)")
    from resonance_callback.serve._nats import NatsSource
    assert nats is not None
    source = NatsSource(nats, stream, subject, durable=durable, ack_wait=ack_wait)
    if lease <= 0:
        return source
    from resonance_callback.serve._lease import Lease, LeasedSource
    return LeasedSource(source, Lease(nats, stream, durable, lease))


def serve(source: Source, router: BeamtimeRouter, **options: Any) -> ServiceStats:
    """Serve ``source`` into ``router`` until SIGTERM or SIGINT; then drain and return.

    Parameters
    ----------
    source : Source
        From :func:`make_source`.
    router : BeamtimeRouter
        Where the runs go.
    **options
        Keyword arguments of :class:`Service` (``ack_every``, ``status_interval``, ...);
        ``freeze_start_up`` is on (this process is the service's own).

    Returns
    -------
    ServiceStats
        What the service did.
    """
    service = Service(source, router, **{"freeze_start_up": True, **options})

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _stopper(stop, sig))
        try:
            await service.run(stop)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    asyncio.run(main())
    return service.stats


def _stopper(stop: asyncio.Event, sig: signal.Signals) -> Any:
    def handler() -> None:
        log.info("%s received: draining", sig.name)
        stop.set()
    return handler
