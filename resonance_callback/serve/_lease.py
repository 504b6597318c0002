"""One active ``serve`` per durable consumer: a lease in a JetStream key-value bucket.

JetStream hands the messages of one durable pull consumer to every process
that fetches from it, each its own share: two processes on one durable would
split a run between them. So a ``serve --nats`` process first takes the lease
of its durable (key ``<stream>.<durable>`` of the bucket :data:`BUCKET`), renews
it every third of its time-to-live, and fetches only while it holds it. A
second process started on the same durable is a standby: it waits for the
lease and takes over when the holder stops (SIGTERM releases the lease at
once) or dies (the lease expires ``ttl`` seconds after its last renewal; a
holder on this host whose process is gone is taken over at once).

A holder that cannot renew for ``ttl`` seconds, or finds the lease taken, stops
fetching and exits with an error naming the lease: a supervisor restarts it as
a standby. What it fed and did not acknowledge is redelivered to the new
holder, whose idempotent writer skips what is already stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import SourceError
from resonance_callback.serve._nats_position import durable_key

with needs_extra("serve", "nats-py", "serving from NATS"):
    import nats
    import nats.js.errors
    from nats.js import api

__all__ = ["BUCKET", "Lease", "LeasedSource"]

log = logging.getLogger("resonance_callback.serve")

#: The key-value bucket of the leases.
BUCKET = "resonance-serve-leases"


class Lease:
    """The lease of one durable consumer, held by this process while it serves.

    Parameters
    ----------
    url : str
        The NATS server(s), as the source connects to them.
    stream, durable : str
        What the lease is for.
    ttl : float
        Seconds a lease lives after its last renewal.

    The bucket, made by the first process that needs it, has as many replicas
    as the stream (3 on a 3-node cluster): the lease survives a node.
    """

    def __init__(self, url: str, stream: str, durable: str, ttl: float) -> None:
        self.url = url
        self.stream = stream
        self.key = durable_key(stream, durable)
        self.ttl = ttl
        self.holder = {"host": socket.gethostname(), "pid": os.getpid()}
        self.lost: str | None = None  # why the lease was lost
        self._nc: Any = None
        self._kv: Any = None
        self._revision = 0
        self._renewed = 0.0
        self._task: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Wait until this process holds the lease, then keep renewing it.

        Raises
        ------
        SourceError
            The NATS server cannot be reached, or has no JetStream.
        """
        await self._connect()
        value = json.dumps(self.holder).encode()
        waited = False
        while True:
            try:
                self._revision = await self._kv.create(self.key, value)
                break
            except nats.js.errors.KeyWrongLastSequenceError:
                if await self._stale():
                    continue
                if not waited:
                    log.info("standby: lease %s is held by %s; waiting for it", self.key,
                             await self._current())
                    waited = True
            except (nats.errors.TimeoutError, nats.errors.ConnectionReconnectingError,
                    nats.js.errors.ServiceUnavailableError) as exc:
                log.debug("lease %s: %s; trying again", self.key, exc)
            await asyncio.sleep(min(1.0, self.ttl / 4))
        self._renewed = time.monotonic()
        log.info("lease %s taken (%g s, renewed every %g s)", self.key, self.ttl, self.ttl / 3)
        self._task = asyncio.get_running_loop().create_task(self._renew())

    async def _connect(self) -> None:
        try:  # as the source connects: the lease is taken before the source opens
            self._nc = await asyncio.wait_for(nats.connect(
                self.url.split(","), connect_timeout=5, max_reconnect_attempts=-1,
                reconnect_time_wait=0.5, name="resonance-callback serve lease"), 10.0)
        except Exception as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else str(exc) or repr(exc)
            raise SourceError(f"cannot connect to NATS server {self.url}: {reason} "
                              "within 10 s") from exc
        js = self._nc.jetstream()
        try:
            try:
                self._kv = await js.key_value(BUCKET)
            except nats.js.errors.BucketNotFoundError:
                replicas = (await js.stream_info(self.stream)).config.num_replicas or 1
                self._kv = await js.create_key_value(api.KeyValueConfig(
                    bucket=BUCKET, ttl=self.ttl, history=1, replicas=replicas,
                    storage=api.StorageType.FILE))
        except nats.js.errors.NotFoundError as exc:
            await self._nc.close()
            raise SourceError(f"NATS server {self.url} has no JetStream stream "
                              f"{self.stream!r}") from exc
        except Exception as exc:
            await self._nc.close()
            raise SourceError(f"cannot take the serve lease {self.key} on NATS {self.url}: "
                              f"{str(exc) or repr(exc)}") from exc

    async def _current(self) -> dict[str, Any] | None:
        try:
            entry = await self._kv.get(self.key)
            got = json.loads(entry.value or b"null")
            return got if isinstance(got, dict) else None
        except Exception:  # noqa: BLE001 - gone meanwhile, or not ours to read
            return None

    async def _stale(self) -> bool:
        """Whether the holder is a process of this host that is gone; if so, drop its lease."""
        holder = await self._current()
        if not holder or holder.get("host") != self.holder["host"]:
            return False
        pid = holder.get("pid")
        if not isinstance(pid, int) or pid == os.getpid() or _alive(pid):
            return False
        try:
            entry = await self._kv.get(self.key)
            await self._kv.delete(self.key, last=entry.revision)
        except Exception:  # noqa: BLE001 - someone else was quicker
            return False
        log.info("lease %s: its holder (pid %d on this host) is gone; taking it over",
                 self.key, pid)
        return True

    async def _renew(self) -> None:
        value = json.dumps(self.holder).encode()
        while self.lost is None:
            await asyncio.sleep(self.ttl / 3)
            try:
                self._revision = await self._kv.update(self.key, value, last=self._revision)
                self._renewed = time.monotonic()
            except nats.js.errors.KeyWrongLastSequenceError:
                self.lost = f"lease {self.key} was taken by {await self._current()}"
            except Exception as exc:  # noqa: BLE001 - the server may be switching over
                if time.monotonic() - self._renewed >= self.ttl:
                    self.lost = f"lease {self.key} not renewed for {self.ttl:g} s ({exc})"
                else:
                    log.warning("lease %s not renewed yet: %s", self.key, exc)
        log.error("%s: this process stops fetching", self.lost)

    def check(self) -> None:
        """Raise if the lease is lost.

        Raises
        ------
        SourceError
            Another process took the lease, or it could not be renewed in time.
        """
        if self.lost is not None:
            raise SourceError(f"{self.lost}; stopped (restart it: it waits as a standby)")

    async def release(self) -> None:
        """Give the lease up (a standby takes it at once) and disconnect."""
        if self._task is not None:
            self._task.cancel()
        if self._kv is not None and self.lost is None and self._revision:
            try:
                await self._kv.delete(self.key, last=self._revision)
            except Exception as exc:  # noqa: BLE001 - it expires by itself
                log.debug("lease %s not released: %s", self.key, exc)
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LeasedSource:
    """A source that fetches only while its :class:`Lease` is held (the Source protocol).

    Parameters
    ----------
    source : Source
        The source (a :class:`~._nats.NatsSource`).
    lease : Lease
        Taken in :meth:`open` before the source opens; given up in :meth:`close`.
    """

    def __init__(self, source: Any, lease: Lease) -> None:
        self.source = source
        self.lease = lease
        self.kind = source.kind
        self.acknowledges = source.acknowledges

    def describe(self) -> str:
        """The source's line, and the lease."""
        return f"{self.source.describe()}, lease {self.lease.key} ({self.lease.ttl:g} s)"

    async def open(self) -> None:
        """Wait for the lease (a standby waits here), then open the source."""
        await self.lease.acquire()
        await self.source.open()

    async def recover(self, feed: Any) -> int:
        """As the source's, while the lease is held."""
        self.lease.check()
        fed: int = await self.source.recover(feed)
        return fed

    async def fetch(self, timeout: float) -> Any:
        """As the source's; raises once the lease is lost."""
        self.lease.check()
        return await self.source.fetch(timeout)

    @property
    def caught_up(self) -> bool:
        """As the source's."""
        return bool(self.source.caught_up)

    def position(self) -> object:
        """As the source's."""
        return self.source.position()

    async def committed(self, position: object) -> None:
        """As the source's."""
        await self.source.committed(position)

    async def ack(self, deliveries: Any) -> None:
        """As the source's."""
        await self.source.ack(deliveries)

    async def lag(self) -> int | None:
        """As the source's."""
        lag: int | None = await self.source.lag()
        return lag

    async def close(self) -> None:
        """Close the source, then give the lease up."""
        try:
            await self.source.close()
        finally:
            await self.lease.release()
