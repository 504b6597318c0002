"""Round trip: documents emitted by a real RunEngine == ``Run.documents()`` read back.

Each case runs plans on fresh ophyd.sim hardware with a capturing subscriber
and a RunWriterCallback side by side, then checks that the stored run gives
back the same document stream (names, order, uids, times, values, timestamps)
-- with ``fill=True``, the stream as event-model's ``Filler`` fills it --
that every document validates against event-model's schemas, and that
re-ingesting the read-back stream into a fresh beamtime gives identical rows
and frames.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import event_model
import numpy as np
import pytest
from bluesky import RunEngine
from bluesky import plan_stubs as bps
from bluesky import plans as bp
from bluesky import preprocessors as bpp
from bluesky.preprocessors import SupplementalData
from bluesky.utils import RunEngineInterrupted
from ophyd.sim import SynPeriodicSignal, SynSignal

from resonance_callback import RunWriterCallback, open_beamtime

from ..docs_compare import (
    assert_same_documents,
    assert_same_frames,
    assert_same_tables,
    filled,
)

Case = Callable[[RunEngine, dict[str, Any]], None]


def count(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    RE(bp.count([sim["det1"], sim["det2"]], num=3))


def scan(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    RE(bp.scan([sim["det"]], sim["motor"], -1, 1, 5))


def grid_scan_snake(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    RE(bp.grid_scan([sim["det4"]], sim["motor1"], 0, 1, 3, sim["motor2"], 0, 1, 2,
                    snake_axes=True))


def list_scan(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    RE(bp.list_scan([sim["det"]], sim["motor"], [0.5, -0.5, 2.0]))


def baseline(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    RE.preprocessors.append(SupplementalData(baseline=[sim["motor1"], sim["motor2"]]))
    RE(bp.scan([sim["det"]], sim["motor"], 0, 1, 3))


def monitor(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    RE(bpp.monitor_during_wrapper(bp.scan([sim["det"]], sim["motor"], 0, 1, 4),
                                  [sim["motor"].readback]))


def direct_img_frames(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    RE(bp.count([sim["direct_img"], sim["det"]], num=3))


def arrays(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    """Small 1-D arrays stay inline; long traces and uint16 frames go to Zarr."""
    counter = itertools.count()
    short = SynSignal(name="short", func=lambda: np.arange(5) * next(counter))
    trace = SynSignal(name="trace", func=lambda: np.linspace(0, 1, 2000) * next(counter))
    frame = SynSignal(name="cam", func=lambda: (np.arange(48, dtype=np.uint16)
                                                * next(counter)).reshape(6, 8))
    RE(bp.count([short, trace, frame], num=3))


def reconfigured(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    det = sim["det"]

    @bpp.stage_decorator([det])
    @bpp.run_decorator()
    def plan() -> Any:
        yield from bps.trigger_and_read([det])
        yield from bps.configure(det, {"sigma": 2.5})
        yield from bps.trigger_and_read([det])
        yield from bps.trigger_and_read([det])

    RE(plan())


def _pausing_plan(det: Any) -> Any:
    @bpp.run_decorator()
    def plan() -> Any:
        yield from bps.trigger_and_read([det])
        yield from bps.checkpoint()
        yield from bps.pause()
        yield from bps.trigger_and_read([det])

    return plan()


def paused_and_resumed(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    with pytest.raises(RunEngineInterrupted):
        RE(_pausing_plan(sim["det"]))
    RE.resume()


def rewound_after_pause(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    """A pause after a reading rewinds to the checkpoint before it: seq_num 1 is taken twice."""

    @bpp.run_decorator()
    def plan() -> Any:
        yield from bps.checkpoint()
        yield from bps.trigger_and_read([sim["det"]])
        yield from bps.pause()
        yield from bps.checkpoint()
        yield from bps.trigger_and_read([sim["det"]])

    with pytest.raises(RunEngineInterrupted):
        RE(plan())
    RE.resume()


def aborted(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    with pytest.raises(RunEngineInterrupted):
        RE(_pausing_plan(sim["det"]))
    RE.abort(reason="sample moved")


def failed(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    @bpp.run_decorator()
    def plan() -> Any:
        yield from bps.trigger_and_read([sim["det"]])
        raise ValueError("detector on fire")

    with pytest.raises(ValueError, match="on fire"):
        RE(plan())


def odd_metadata(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    RE(bp.count([sim["det"]], num=2), nan=float("nan"), inf=float("inf"),
       ninf=float("-inf"), huge=2**70, negative_huge=-(2**65), operator="Ångström 測定 ✓",
       sample={"name": "Łódź wafer", "thickness_nm": float("nan"), "tags": ["a", "ß"]},
       nested={"deep": {"list": [1, 2.5, None, True, "x"], "empty": {}}}, blank="")


def external_npy(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    RE(bp.count([sim["img"], sim["det"]], num=3))


def ophyd_async_stream(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    """An ophyd-async detector writing HDF5: stream_resource / stream_datum, STREAM: keys."""
    from ophyd_async import sim as async_sim
    from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider, init_devices

    pattern = async_sim.PatternGenerator()
    paths = StaticPathProvider(UUIDFilenameProvider(), sim["tmp_path"])
    with init_devices():
        stage = async_sim.SimStage(pattern)
        blob = async_sim.SimBlobDetector(paths, pattern)
    RE(bp.scan([blob], stage.x, 0, 1, 3))


def ophyd_async_fly(RE: RunEngine, sim: dict[str, Any]) -> None:  # noqa: N803
    """A fly scan: no event documents, only stream_resource / stream_datum (two per event)."""
    from ..external.test_external import blob_detector, fly_plan

    directory = sim["tmp_path"] / "fly"
    directory.mkdir()
    RE(fly_plan(blob_detector(directory), events=4, collections_per_event=2))


CASES: dict[str, Case] = {f.__name__: f for f in (
    count, scan, grid_scan_snake, list_scan, baseline, monitor, direct_img_frames, arrays,
    reconfigured, paused_and_resumed, rewound_after_pause, aborted, failed, odd_metadata,
    external_npy, ophyd_async_stream, ophyd_async_fly)}



def _validate(docs: list[tuple[str, dict[str, Any]]]) -> None:
    for name, doc in docs:
        event_model.schema_validators[event_model.DocumentNames[name]].validate(doc)


def _reingest(docs: list[tuple[str, dict[str, Any]]], db: Path) -> None:
    with RunWriterCallback(db) as callback:
        for name, doc in docs:
            callback(name, doc)


@pytest.mark.parametrize("case", sorted(CASES))
def test_documents_reproduce_the_emitted_stream(case: str, RE: RunEngine, sim: dict[str, Any],  # noqa: N803
                                                recorder: Any, tmp_path: Path) -> None:
    CASES[case](RE, sim)
    recorder.callback.close()
    [uid] = recorder.run_uids()
    emitted = recorder.run_docs(uid)
    with open_beamtime(recorder.db) as bt:
        run = bt[uid]
        assert run.rejected() == []
        # fill=False gives the stream as emitted; fill=True as event-model's
        # Filler fills it (the files are still there to read).
        for fill, expected in ((False, emitted), (True, filled(emitted))):
            read_back = list(run.documents(fill=fill))
            assert_same_documents(expected, read_back)
            _validate(read_back)
        docs = list(run.documents(fill=False))
        if not any(name == "resource" for name, _ in emitted):
            # Nothing to fill: ophyd-async data travels in stream_datum documents.
            assert_same_documents(docs, list(run.documents(fill=True)))
    copy_db = tmp_path / "copy" / "bt.db"
    copy_db.parent.mkdir()
    _reingest(docs, copy_db)
    assert_same_tables(recorder.db, copy_db)
    assert_same_frames(recorder.zarr, copy_db.with_suffix(".zarr"))


def test_documents_interleave_a_threaded_monitor_by_time(RE: RunEngine, sim: dict[str, Any],  # noqa: N803
                                                          recorder: Any) -> None:
    ticker = SynPeriodicSignal(name="ticker", period=0.01, period_jitter=0)
    ticker.start_simulation()  # its thread ends when the signal is garbage-collected
    RE(bpp.monitor_during_wrapper(bp.count([sim["det"]], num=5, delay=0.02), [ticker]))
    recorder.callback.close()
    [uid] = recorder.run_uids()
    emitted = recorder.run_docs(uid)
    # A tick may race the end of the run and arrive after stop: the writer
    # rejects it (its run is closed), so it is in rejected(), not in the stream.
    names = [n for n, _ in emitted]
    late = [d["uid"] for n, d in emitted[names.index("stop") + 1:]]
    emitted = [(n, d) for n, d in emitted if d.get("uid") not in late]
    with open_beamtime(recorder.db) as bt:
        read_back = list(bt[uid].documents())
        assert [r.uid for r in bt[uid].rejected()] == late
    # The monitor's events come from another thread: emission order across
    # streams may differ from time order by a hair; within each stream it may not.
    assert_same_documents(emitted, read_back, strict_order=False)
    times = [d["time"] for n, d in read_back if n == "event"]
    assert times == sorted(times)


def test_rejected_documents_are_listed_but_not_replayed(RE: RunEngine, sim: dict[str, Any],  # noqa: N803
                                                        recorder: Any) -> None:
    def send_event_twice(name: str, doc: dict[str, Any]) -> None:
        if name == "event" and doc["seq_num"] == 2:  # its uid again, other values
            recorder.callback("event", dict(doc, data={k: -1.0 for k in doc["data"]}))

    RE.subscribe(send_event_twice)
    RE(bp.count([sim["det"]], num=3))
    last = [d for n, d in recorder.docs if n == "event"][-1]
    recorder.callback("event", dict(last, uid="after-stop", seq_num=4))
    recorder.callback.close()
    [uid] = recorder.run_uids()
    with open_beamtime(recorder.db) as bt:
        run = bt[uid]
        rejected = run.rejected()
        names = [n for n, _ in run.documents()]
    second = [d for n, d in recorder.run_docs(uid) if n == "event"][1]
    assert [(r.name, r.uid) for r in rejected] == [("event", second["uid"]),
                                                   ("event", "after-stop")]
    assert "already stored" in rejected[0].reason
    assert "already stopped" in rejected[1].reason
    assert rejected[1].document["seq_num"] == 4
    assert names == ["start", "descriptor", "event", "event", "event", "stop"]
