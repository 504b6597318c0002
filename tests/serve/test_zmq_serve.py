"""``serve --zmq``: documents from bluesky's own 0MQ proxy, published by a real RunEngine."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bluesky.plans import count, scan

from resonance_callback import RunWriterCallback

from ..beamtime_dump import differences, dump_beamtime
from .conftest import camera
from .servers import ServeProcess, ZmqProxy, zmq_publisher


def _serve_zmq(tmp_path: Path, proxy: ZmqProxy) -> ServeProcess:
    service = ServeProcess(["--zmq", f"127.0.0.1:{proxy.out_port}", "--db",
                            str(tmp_path / "served.db"), "--status-interval", "1"],
                           tmp_path / "serve.log").start()
    time.sleep(1.0)  # 0MQ PUB/SUB: let the subscription reach the proxy before publishing
    return service


def test_served_from_the_0mq_proxy_equals_the_in_process_beamtime(tmp_path: Path, RE, sim
                                                                  ) -> None:  # noqa: N803
    proxy = ZmqProxy()
    service = _serve_zmq(tmp_path, proxy)
    try:
        local = RunWriterCallback(tmp_path / "local.db")
        RE.subscribe(local)
        with zmq_publisher(f"127.0.0.1:{proxy.in_port}") as publisher:
            RE.subscribe(publisher)
            RE(count([sim["det"], camera(), sim["img"]], num=5))
            RE(scan([sim["det"]], sim["motor"], -1, 1, 5))
            local.close()
            service.wait_for("runs_open=0 documents=22 ", timeout=30)
        assert service.terminate() == 0
    finally:
        service.stop()
        proxy.stop()
    assert differences(dump_beamtime(tmp_path / "served.db"),
                       dump_beamtime(tmp_path / "local.db")) == {}


def test_a_run_whose_documents_stop_arriving_over_0mq_stays_open_not_half_written_silently(
        tmp_path: Path, RE, sim) -> None:  # noqa: N803
    proxy = ZmqProxy()
    service = _serve_zmq(tmp_path, proxy)
    sent: list[str] = []
    try:
        with zmq_publisher(f"127.0.0.1:{proxy.in_port}") as publisher:

            def until_the_third_event(name: str, doc: dict) -> None:
                if name != "stop" and len(sent) < 5:  # start, descriptor, 3 events; silence
                    sent.append(name)
                    publisher(name, doc)

            RE.subscribe(until_the_third_event)
            RE(count([sim["det"]], num=10))
            service.wait_for("runs_open=1 documents=5 ", timeout=30)
        assert service.terminate() == 0
    finally:
        service.stop()
        proxy.stop()
    with sqlite3.connect(tmp_path / "served.db") as conn:
        (status, events), = conn.execute(
            "SELECT r.exit_status, (SELECT count(*) FROM events) FROM runs r").fetchall()
    assert status is None  # open: never closed as if it had ended
    assert events == 3
