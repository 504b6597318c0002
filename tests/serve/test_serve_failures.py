"""A message never ends ``serve``: failures are recorded, acknowledged, and the service goes on."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from bluesky import plan_stubs as bps

from .conftest import camera
from .runs import publish_run, rejected_in, runs_in
from .servers import consumer_state, wait_acknowledged

TEMPLATE = ("--db-template", "{beamline}/{proposal_id}.db")


def test_a_failed_run_is_acknowledged_once_and_a_restart_does_not_see_it_again(
        tmp_path: Path, publisher, nats_server, served) -> None:
    root = tmp_path / "root"
    (root / "BL1" / "taken.db").mkdir(parents=True)  # a directory where the beamtime would be
    service = served(*TEMPLATE, "--root", str(root))
    bad = publish_run(publisher, beamline="BL1", proposal_id="taken")
    wait_acknowledged(nats_server.url)
    assert service.terminate() == 0
    again = served(*TEMPLATE, "--root", str(root))
    good = publish_run(publisher, beamline="BL1", proposal_id="free")
    wait_acknowledged(nats_server.url)
    assert again.terminate() == 0
    assert "cannot be opened" not in again.text()  # nothing of the failed run came back
    assert consumer_state(nats_server.url)["redelivered"] == 0
    assert runs_in(root / "unrouted.db") == {bad: ("success", 3)}
    assert [n for n, _, _ in rejected_in(root / "unrouted.db")] == ["route"]
    assert runs_in(root / "BL1" / "free.db") == {good: ("success", 3)}


def test_a_beamtime_whose_frame_store_is_replaced_mid_run_is_recorded_and_the_run_goes_on(
        tmp_path: Path, RE, sim, publisher, nats_server, served) -> None:  # noqa: N803
    root = tmp_path / "root"
    service = served(*TEMPLATE, "--root", str(root))
    RE.subscribe(publisher)
    cam = camera((32, 32))
    store = root / "BL1" / "a.zarr"

    def plan():
        yield from bps.open_run(md={"beamline": "BL1", "proposal_id": "a"})
        for i in range(6):
            yield from bps.trigger_and_read([sim["det"], cam])
            if i == 2:  # three events stored; then the frame store is replaced by a file
                wait_acknowledged(nats_server.url)
                shutil.rmtree(store)
                store.write_text("not a zarr store\n")
        yield from bps.close_run()

    (uid,) = RE(plan())
    later = publish_run(publisher, beamline="BL1", proposal_id="b")
    wait_acknowledged(nats_server.url)
    time.sleep(0.5)
    assert service.proc.poll() is None, service.text()[-3000:]
    assert service.terminate() == 0
    routes = [reason for name, _, reason in rejected_in(root / "unrouted.db") if name == "route"]
    assert routes and all("a.db cannot be opened or written" in r for r in routes), routes
    # no event is lost: those committed before stay in a.db, the others (and the stop)
    # are stored where the run went on (a.db reopened, or the unrouted beamtime)
    parts = [runs_in(root / "BL1" / "a.db").get(uid, (None, 0)),
             runs_in(root / "unrouted.db").get(uid, (None, 0))]
    assert sum(events for _, events in parts) == 6, parts
    assert "success" in [status for status, _ in parts], parts
    assert runs_in(root / "BL1" / "b.db") == {later: ("success", 3)}
