"""``serve --zmq`` reads what bluesky's 0MQ ``Publisher`` can send safely; pickle only if asked.

bluesky's ``Publisher(serializer=...)`` packs each document with its serializer
(``pickle.dumps`` by default). The service reads msgpack (msgpack-numpy arrays, as
bluesky-kafka packs them) and JSON, each message as it comes; a pickle is refused
and recorded, never unpickled, unless ``--zmq-format pickle`` says the bus is trusted.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from bluesky.plans import count
from click.testing import CliRunner

from resonance_callback import open_beamtime
from resonance_callback.cli import main

from .conftest import camera
from .runs import rejected_in, runs_in
from .servers import Mkdir, ServeProcess, ZmqProxy, json_serializer, zmq_publisher


def _serve(tmp_path: Path, proxy: ZmqProxy, *extra: str) -> ServeProcess:
    return ServeProcess(["--zmq", f"127.0.0.1:{proxy.out_port}", "--db",
                         str(tmp_path / "served.db"), "--status-interval", "0.5", *extra],
                        tmp_path / "serve.log").start()


def test_a_json_publisher_is_stored_with_frames_in_their_declared_dtype(
        tmp_path: Path, RE, sim) -> None:  # noqa: N803
    proxy = ZmqProxy()
    service = _serve(tmp_path, proxy)
    try:
        with zmq_publisher(f"127.0.0.1:{proxy.in_port}", json_serializer) as publisher:
            RE.subscribe(publisher)
            RE(count([sim["det"], camera()], num=4))
            service.wait_for("runs_open=0 documents=7 ", timeout=60)
        assert service.terminate() == 0
    finally:
        service.stop()
        proxy.stop()
    assert list(runs_in(tmp_path / "served.db").values()) == [("success", 4)]
    with open_beamtime(tmp_path / "served.db") as bt:
        frames = bt[-1].images("cam")
        assert frames.dtype == "uint16" and len(frames) == 4
    assert rejected_in(tmp_path / "served.db") == []


def test_a_pickle_is_not_executed_by_default_and_is_recorded_as_rejected(
        tmp_path: Path, RE, sim) -> None:  # noqa: N803
    proxy = ZmqProxy()
    service = _serve(tmp_path, proxy)
    try:
        with zmq_publisher(f"127.0.0.1:{proxy.in_port}", pickle.dumps) as publisher:
            publisher("start", {"uid": "u-evil", "time": 1.0, "x": Mkdir(tmp_path / "pwned")})
            service.wait_for("errors=1 ", timeout=60)
        assert service.terminate() == 0
    finally:
        service.stop()
        proxy.stop()
    assert not (tmp_path / "pwned").exists()
    (name, run, reason), = rejected_in(tmp_path / "served.db")
    assert name == "message" and run is None
    assert "0MQ start document of" in reason and "payload is a pickle: refused" in reason
    assert runs_in(tmp_path / "served.db") == {}


def test_pickle_is_read_only_with_zmq_format_pickle(tmp_path: Path, RE, sim) -> None:  # noqa: N803
    proxy = ZmqProxy()
    service = _serve(tmp_path, proxy, "--zmq-format", "pickle")
    try:
        with zmq_publisher(f"127.0.0.1:{proxy.in_port}", pickle.dumps) as publisher:
            RE.subscribe(publisher)
            RE(count([sim["det"]], num=3))
            service.wait_for("runs_open=0 documents=6 ", timeout=60)
        assert service.terminate() == 0
    finally:
        service.stop()
        proxy.stop()
    assert "executes code sent over the network" in service.text()
    assert list(runs_in(tmp_path / "served.db").values()) == [("success", 3)]


def test_the_help_of_zmq_format_pickle_says_it_executes_code_sent_over_the_network() -> None:
    text = " ".join(CliRunner().invoke(main, ["serve", "--help"]).output.split())
    assert "'pickle' is UNSAFE: unpickling executes code sent over the network" in text
    assert "--zmq-max-bytes" in text and "--max-open-beamtimes" in text
