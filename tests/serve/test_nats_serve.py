"""``serve --nats``: a RunEngine publishes with bluesky-nats; the service stores it as is."""

from __future__ import annotations

from pathlib import Path

from bluesky.plans import count, scan

from resonance_callback import RunWriterCallback, open_beamtime, search

from .conftest import camera
from .runs import assert_served_as_local
from .servers import wait_acknowledged


def test_served_beamtime_equals_the_in_process_one_row_for_row_and_frame_for_frame(
        tmp_path: Path, RE, sim, publisher, nats_server, served) -> None:
    service = served("--index", str(tmp_path / "index.db"), "--researcher", "Alice")
    local = RunWriterCallback(tmp_path / "local.db")
    RE.subscribe(local)
    RE.subscribe(publisher)
    cam = camera()
    RE(count([sim["det"], cam, sim["img"]], num=5), sample="PS-1")
    RE(scan([sim["det"]], sim["motor"], -1, 1, 7))
    # a document the callback cannot store: rejected the same way on both sides
    bad = {"uid": "not-a-known-event", "descriptor": "nowhere", "time": 1.0, "seq_num": 1,
           "data": {"x": 1}, "timestamps": {"x": 1.0}}
    local("event", bad)
    publisher("event", bad)
    local.close()
    wait_acknowledged(nats_server.url)
    assert service.terminate() == 0
    expected = assert_served_as_local(tmp_path, rejected=1)
    assert len(expected["runs"]) == 2 and len(expected["image_refs"]) == 10
    with open_beamtime(tmp_path / "served.db") as bt:
        assert bt[-2].images("cam").dtype == "uint16"
    indexed = search(tmp_path / "index.db")
    assert sorted(run.exit_status for run in indexed) == ["success", "success"]


def test_arrays_packed_whole_are_stored_as_the_in_process_callback_stores_them(
        tmp_path: Path, RE, sim, nats_server, served) -> None:  # noqa: N803
    from resonance_callback.serve import pack_document

    from .servers import _with_js, run

    def publish(name: str, doc: dict) -> None:  # arrays whole: msgpack-numpy maps
        async def work(js) -> None:  # noqa: ANN001
            await js.publish(f"bluesky.packed.{name}", pack_document(doc))
        run(_with_js(nats_server.url, work))

    service = served()
    local = RunWriterCallback(tmp_path / "local.db")
    RE.subscribe(local)
    RE.subscribe(publish)
    RE(count([sim["det"], camera((128, 96)), sim["img"]], num=4))
    local.close()
    wait_acknowledged(nats_server.url)
    assert service.terminate() == 0
    expected = assert_served_as_local(tmp_path)
    assert len(expected["image_refs"]) == 8
    with open_beamtime(tmp_path / "served.db") as bt:
        assert bt[-1].images("cam").dtype == "uint16"
