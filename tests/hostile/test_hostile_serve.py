"""Hostile input to ``serve``: what arrives on the bus never ends the service.

Each case runs the real service against a real server (nats-server with
JetStream, or bluesky's 0MQ proxy): a good run is stored first, then the hostile
input arrives, then another good run. Each asserts that the earlier run is
unchanged, that the bad input is recorded with its reason (a ``route`` or
``message`` row in ``rejected_documents`` of the unrouted / ``--db`` beamtime),
that the service keeps answering (the later run is stored, SIGTERM exits 0) and
that memory and time stay bounded (the service's peak RSS, every wait under a
generous timeout).
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.beamtime_dump import dump_beamtime
from tests.mounts import mount
from tests.serve.conftest import nats_server, publisher, served  # noqa: F401 - fixtures
from tests.serve.runs import kept, peak_rss_bytes, publish_run, rejected_in, runs_in
from tests.serve.servers import (
    Mkdir,
    ServeProcess,
    ZmqProxy,
    msgpack_serializer,
    wait_acknowledged,
    zmq_publisher,
)

#: The service's peak memory must stay under this (it is ~200 MB at rest).
MEMORY_BOUND = 1024**3


# -- routing values whose beamtime cannot be opened (NATS, --db-template) ------------

def _file(root: Path) -> list[Path]:
    (root / "BL1").mkdir(parents=True)
    (root / "BL1" / "isfile.db").write_text("not a database\n" * 100)
    return [root / "BL1" / "isfile.db"]


def _directory(root: Path) -> list[Path]:
    (root / "BL1" / "isdir.db").mkdir(parents=True)
    (root / "BL1" / "isdir.db" / "inside.txt").write_text("kept\n")
    return [root / "BL1" / "isdir.db" / "inside.txt"]


def _foreign(root: Path) -> list[Path]:
    (root / "BL1").mkdir(parents=True)
    with sqlite3.connect(root / "BL1" / "foreign.db") as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.close()
    return [root / "BL1" / "foreign.db"]


def _parent_is_a_file(root: Path) -> list[Path]:
    root.mkdir(parents=True)
    (root / "afile").write_text("a file where a beamline directory would be\n")
    return [root / "afile"]


def _read_only(root: Path) -> list[Path]:
    (root / "ro").mkdir(parents=True)
    mount(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(root / "ro")], root / "ro")
    return []


#: case: (prepare the root, start metadata of the bad run, what the recorded reason says)
ROUTES: dict[str, tuple[Callable[[Path], list[Path]], dict[str, Any], str]] = {
    "a 250-character value": (lambda root: [], {"beamline": "BL1", "proposal_id": "p" * 250},
                              "250 characters long"),
    "a regular file": (_file, {"beamline": "BL1", "proposal_id": "isfile"}, "isfile.db"),
    "a directory": (_directory, {"beamline": "BL1", "proposal_id": "isdir"}, "isdir.db"),
    "another application's .db": (_foreign, {"beamline": "BL1", "proposal_id": "foreign"},
                                  "foreign.db"),
    "a file where the directory is": (_parent_is_a_file,
                                      {"beamline": "afile", "proposal_id": "p1"}, "afile"),
    "a read-only mount": (_read_only, {"beamline": "ro", "proposal_id": "p1"}, "ro/p1.db"),
}


@pytest.fixture
def unmount(tmp_path: Path) -> Iterator[None]:
    yield
    ro = tmp_path / "root" / "ro"
    if ro.is_dir() and os.path.ismount(ro):
        subprocess.run(["umount", str(ro)], check=False)


@pytest.mark.parametrize("case", list(ROUTES))
def test_a_run_whose_beamtime_cannot_be_opened_is_recorded_and_the_service_goes_on(
        tmp_path: Path, publisher, nats_server, served, unmount,  # noqa: F811
        case: str) -> None:
    prepare, metadata, says = ROUTES[case]
    root = tmp_path / "root"
    protected = prepare(root)
    contents = {p: p.read_bytes() for p in protected if p.is_file()}
    service = served("--db-template", "{beamline}/{proposal_id}.db", "--root", str(root))
    first = publish_run(publisher, beamline="BL1", proposal_id="good")
    wait_acknowledged(nats_server.url)
    good = root / "BL1" / "good.db"
    before = dump_beamtime(good)

    bad = publish_run(publisher, **metadata)
    later = publish_run(publisher, beamline="BL1", proposal_id="good")
    wait_acknowledged(nats_server.url)  # acknowledged: never delivered again

    assert service.proc.poll() is None, service.text()
    assert peak_rss_bytes(service.proc.pid) < MEMORY_BOUND
    assert service.terminate() == 0
    assert kept(before, dump_beamtime(good)) == {}
    assert runs_in(good) == {first: ("success", 3), later: ("success", 3)}
    unrouted = root / "unrouted.db"
    assert runs_in(unrouted) == {bad: ("success", 3)}  # the run is kept whole
    routes = [(run, reason) for name, run, reason in rejected_in(unrouted) if name == "route"]
    assert len(routes) == 1 and routes[0][0] == bad and says in routes[0][1], routes
    assert {p: p.read_bytes() for p in contents} == contents  # never written into


# -- 0MQ payloads nobody should be able to send (--db, default --zmq-format) -----------

def _pickle_that_runs_code(tmp_path: Path) -> bytes:
    return b" start " + pickle.dumps({"uid": "evil", "time": 1.0,
                                      "x": Mkdir(tmp_path / "pwned")})


def _msgpack_numpy_object_array(tmp_path: Path) -> bytes:
    # msgpack-numpy packs an object array as a pickle inside the msgpack map
    inner = pickle.dumps([Mkdir(tmp_path / "pwned")])
    return b" event " + msgpack.packb({"uid": "e", "data": {"x": {
        b"nd": True, b"type": "|O", b"kind": b"O", b"shape": [1], b"data": inner}}})


def _deep_nesting(tmp_path: Path) -> bytes:
    return b" start " + b"[" * 200_000 + b"]" * 200_000


def _a_huge_declared_array(tmp_path: Path) -> bytes:
    return b" event " + msgpack.packb({"uid": "e", "data": {"x": {
        b"nd": True, b"type": "(10000,10000)f8", b"kind": b"", b"shape": [10**6, 10**6],
        b"data": b"\0" * 16}}})


def _oversized(tmp_path: Path) -> bytes:
    return b" event " + b"\0" * (3 * 1024**2)


#: case: (the raw 0MQ message, what the recorded reason says)
PAYLOADS: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "a pickle that runs code": (_pickle_that_runs_code, "payload is a pickle: refused"),
    "a msgpack-numpy object array": (_msgpack_numpy_object_array, "object array refused"),
    "200,000 levels of nesting": (_deep_nesting, "is not json"),
    "a subarray dtype of 800 MB per element": (_a_huge_declared_array,
                                               "refused (objects or subarrays)"),
    "a message over --zmq-max-bytes": (_oversized, "over 1048576 bytes"),
}


@pytest.mark.parametrize("case", list(PAYLOADS))
def test_a_hostile_0mq_payload_is_recorded_not_run_and_the_service_goes_on(
        tmp_path: Path, case: str) -> None:
    make, says = PAYLOADS[case]
    db = tmp_path / "served.db"
    proxy = ZmqProxy()
    service = ServeProcess(["--zmq", f"127.0.0.1:{proxy.out_port}", "--db", str(db),
                            "--status-interval", "0.5", "--zmq-max-bytes", str(1024**2)],
                           tmp_path / "serve.log").start()
    try:
        with zmq_publisher(f"127.0.0.1:{proxy.in_port}", msgpack_serializer) as publisher:
            first = publish_run(publisher)
            service.wait_for("documents=6 ", timeout=60)
            before = dump_beamtime(db)
            publisher._socket.send(make(tmp_path))
            service.wait_for("errors=1 ", timeout=60)
            time.sleep(2.0)  # a dropped connection is made again: let it reach the proxy
            later = publish_run(publisher)
            service.wait_for("runs_open=0 documents=13 ", timeout=60)
        assert peak_rss_bytes(service.proc.pid) < MEMORY_BOUND
        assert service.terminate() == 0
    finally:
        service.stop()
        proxy.stop()
    assert not (tmp_path / "pwned").exists()  # no code sent over the network ran
    assert kept(before, dump_beamtime(db)) == {}
    assert runs_in(db) == {first: ("success", 3), later: ("success", 3)}
    messages = [reason for name, _, reason in rejected_in(db) if name == "message"]
    assert len(messages) == 1 and says in messages[0], messages
