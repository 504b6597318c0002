"""One value costs only itself, from a real RunEngine and through replay alike (issue 21).

Each case is a real scan (ophyd signals read by a RunEngine) whose middle point
holds one hostile value: a frame of another dtype than its stream's array, a
frame whose elements are of mixed or non-numeric types, a ragged frame, start
metadata the JSON encoder cannot take. The scan runs with a
:class:`RunWriterCallback` subscribed and a suitcase-msgpack serializer beside it;
the saved stream is then replayed into a second beamtime. Each case asserts:

* the earlier run (stored before) is unchanged, and a later run is stored (the
  callback keeps answering);
* the hostile value is recorded in ``rejected_documents`` with its reason, and
  only it is lost: every event of the scan is stored with its scalar values,
  and every other frame;
* live and replay give the same beamtime, row for row and frame for frame;
* time and memory stay bounded (the case ends under a generous timeout; peak
  memory traced stays within a generous multiple of the values sent).
"""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import event_model
import msgpack
import msgpack_numpy
import numpy as np
import pytest
import suitcase.msgpack
from bluesky import RunEngine
from ophyd import Signal

from resonance_callback import RunWriterCallback, open_beamtime
from resonance_callback.replay import replay

from ..beamtime_dump import differences, dump_beamtime

GOOD = np.full((4, 4), 7, dtype=np.uint16)


@dataclass
class ValueCase:
    """The middle frame (or the start's metadata) of a three-point scan, and what it costs."""

    id: str
    frame: Any = None  # the middle point's frame; None: a good one
    md: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # a word of the reason recorded
    frames_lost: int = 1  # frames of the scan not stored
    check_start: dict[str, Any] | None = None  # keys the stored start must hold
    replay: bool = True  # False: no saved format carries the value (noted at the case)


class _ReprRaises:
    """An object no encoder takes: its ``repr`` raises."""

    def __repr__(self) -> str:
        raise RuntimeError("this object cannot be shown")


def _cycle() -> list[Any]:
    cycle: list[Any] = [1]
    cycle.append(cycle)
    return cycle


CASES = [
    ValueCase("frame-float-into-uint16-array", np.full((4, 4), 1.5), reason="does not fit"),
    ValueCase("frame-int64-into-uint16-array", np.full((4, 4), 2**40, dtype=np.int64),
              reason="does not fit"),
    ValueCase("frame-complex-into-uint16-array", np.ones((4, 4), complex), reason="does not fit"),
    ValueCase("frame-mixed-numbers-and-strings", [[1, 2, 3, "a"]] * 4, reason="not numbers"),
    ValueCase("frame-with-none-elements", [[1, None, 3, 4]] * 4, reason="not numbers"),
    ValueCase("frame-ragged-rows", [[1, 2, 3, 4]] * 3 + [[1, 2]], reason="no array"),
    # Start metadata the RunEngine passes on but no encoder takes (no saved format
    # carries it either: these are live only, and ``replay`` is False).
    ValueCase("start-metadata-object-whose-repr-raises",
              md={"calib": {"obj": _ReprRaises(), "gain": 2}}, reason="left out",
              frames_lost=0, check_start={"calib": {"gain": 2}}, replay=False),
    ValueCase("start-metadata-reference-cycle", md={"cycle": _cycle(), "gain": 2},
              reason="nested deeper", frames_lost=0, check_start={"gain": 2}, replay=False),
    ValueCase("start-metadata-object-array-of-such-objects",
              md={"arr": np.array([_ReprRaises()], dtype=object), "gain": 2}, reason="left out",
              frames_lost=0, check_start={"gain": 2}, replay=False),
]


def _scan(x: Signal, img: Signal, frames: list[Any], md: dict[str, Any]) -> Any:
    @bpp.run_decorator(md=md)
    def plan() -> Any:
        for i, frame in enumerate(frames):
            yield from bps.mv(x, float(i), img, frame)
            yield from bps.trigger_and_read([x, img])
    return plan()


def _run_scans(db: Path, saved: Path, case: ValueCase) -> list[str]:
    """The earlier good scan, the hostile one and a later good one; their uids."""
    RE = RunEngine({})
    x, img = Signal(name="x", value=0.0), Signal(name="img", value=GOOD)
    def saving(name: str, doc: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        # one file per run, closed by its stop, named so replay reads them in order
        prefix = f"{len(uids)}-{{start[uid]}}"
        return [suitcase.msgpack.Serializer(saved, file_prefix=prefix)], []

    uids: list[str] = []
    with RunWriterCallback(db) as callback:
        RE.subscribe(callback)
        if case.replay:
            RE.subscribe(event_model.RunRouter([saving]))
        uids += RE(_scan(x, img, [GOOD, GOOD], {}))
        before = _run_view(db, uids[0])
        middle = GOOD if case.frame is None else case.frame
        RE.md.update(case.md)  # the RunEngine's own metadata: it reaches the start as it is
        uids += RE(_scan(x, img, [GOOD, middle, GOOD], {}))
        RE.md.clear()
        uids += RE(_scan(x, img, [GOOD], {}))
    assert _run_view(db, uids[0]) == before, "the earlier run changed"
    return uids


def _run_view(db: Path, uid: str) -> Any:
    with open_beamtime(db) as bt:
        run = bt[uid]
        events = [(d["seq_num"], d["data"].get("x")) for n, d in run.documents() if n == "event"]
        frames = [np.asarray(f).tobytes() for f in run.images("img", "primary")]
        return run.exit_status, events, frames


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_hostile_value_costs_only_itself_live_and_replayed_alike(case: ValueCase,
                                                                 tmp_path: Path) -> None:
    live, replayed, saved = tmp_path / "live.db", tmp_path / "replayed.db", tmp_path / "saved"
    tracemalloc.start()
    try:
        earlier, hostile, later = _run_scans(live, saved, case)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024**2  # three small scans: far below, whatever the value

    with open_beamtime(live) as bt:
        run = bt[hostile]
        assert run.exit_status == "success"
        events = [d for n, d in run.documents() if n == "event"]
        assert [(e["seq_num"], e["data"]["x"]) for e in events] == [(1, 0.0), (2, 1.0), (3, 2.0)]
        assert len(run.images("img", "primary")) == 3 - case.frames_lost
        reasons = [r.reason for r in run.rejected()]
        assert len(reasons) == 1 and case.reason in reasons[0], reasons
        if case.check_start is not None:
            assert {k: run.start[k] for k in case.check_start} == case.check_start
        assert bt[later].exit_status == "success" and len(bt[later].images("img")) == 1
        assert bt[earlier].exit_status == "success"

    if case.replay:
        replay(saved, replayed)
        assert differences(dump_beamtime(replayed), dump_beamtime(live)) == {}


# -- documents from event_model.compose_run, changed as a careless publisher would ------------

def _composed(where: str) -> list[tuple[str, dict[str, Any]]]:
    """A run of three events whose start (or descriptor) holds keys no JSON object takes.

    ``compose_run`` validates what it is given, so the keys are added to its
    documents afterwards, as a publisher that does not validate sends them; a
    msgpack stream carries them (bytes keys) to replay.
    """
    bundle = event_model.compose_run(metadata={"plan_name": "count", "calib": {"gain": 2}})
    start = bundle.start_doc
    keys = {"x": {"dtype": "number", "shape": [], "source": "sim:x"},
            "img": {"dtype": "array", "shape": [4, 4], "source": "sim:img"}}
    config = {"det": {"data": {"det_gain": 1}, "timestamps": {"det_gain": 0.0},
                      "data_keys": {"det_gain": {"dtype": "number", "shape": [],
                                                 "source": "sim:gain"}}}}
    desc = bundle.compose_descriptor(data_keys=keys, name="primary", configuration=config)
    descriptor = desc.descriptor_doc
    if where == "start":
        start["calib"][b"raw"] = b"\x00\x01"
    else:
        descriptor["configuration"]["det"]["data"][b"raw"] = 1
    events = [desc.compose_event(data={"x": float(i), "img": GOOD}, seq_num=i,
                                 timestamps={"x": 0.0, "img": 0.0}) for i in (1, 2, 3)]
    return [("start", start), ("descriptor", descriptor),
            *[("event", e) for e in events], ("stop", bundle.compose_stop())]


def _only_run(dump: dict[str, Any], uid: str) -> dict[str, Any]:
    """The rows and arrays of one run in a beamtime dump (runs, streams, events, frames)."""
    streams = {row[0] for row in dump["streams"] if row[1] == uid}
    events = {row[0] for row in dump["events"] if row[1] in streams}
    return {"runs": [r for r in dump["runs"] if r[0] == uid],
            "streams": [r for r in dump["streams"] if r[0] in streams],
            "events": [r for r in dump["events"] if r[0] in events],
            "image_refs": [r for r in dump["image_refs"] if r[0] in events],
            "rejected_documents": [r for r in dump["rejected_documents"] if r[0] == uid],
            "arrays": {k: v for k, v in dump["arrays"].items() if f"/{uid}/" in f"/{k}"}}


@pytest.mark.parametrize("where", ["start", "descriptor"])
def test_start_or_descriptor_with_keys_no_json_object_takes_keeps_its_run_live_and_replayed(
        where: str, tmp_path: Path) -> None:
    docs = _composed(where)
    uid = docs[0][1]["uid"]
    live, replayed, saved = tmp_path / "live.db", tmp_path / "replayed.db", tmp_path / "s.msgpack"
    with saved.open("wb") as f:
        for name, doc in docs:
            f.write(msgpack.packb([name, doc], default=msgpack_numpy.encode, use_bin_type=True))
    earlier = _composed("neither")
    with RunWriterCallback(live) as callback:
        for name, doc in earlier:
            callback(name, doc)
        callback.flush()
        before = _run_view(live, earlier[0][1]["uid"])
        tracemalloc.start()
        try:
            for name, doc in docs:
                callback(name, doc)
            callback.flush()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        callback(*_composed("neither")[0])  # the callback goes on: another run opens
    assert peak < 16 * 1024**2  # a run of three 4x4 frames
    assert _run_view(live, earlier[0][1]["uid"]) == before
    with open_beamtime(live) as bt:
        run = bt[uid]
        assert run.exit_status == "success"
        assert [d["data"]["x"] for n, d in run.documents() if n == "event"] == [1.0, 2.0, 3.0]
        assert len(run.images("img", "primary")) == 3
        [rejected] = run.rejected()
        assert rejected.name == where and "<bytes key>" in rejected.reason
        assert "left out" in rejected.reason
        assert run.start["calib"] == {"gain": 2}
        assert len(bt) == 3
    replay(saved, replayed)
    dump = dump_beamtime(replayed)
    assert _only_run(dump, uid) == _only_run(dump_beamtime(live), uid)
    assert len(dump["runs"]) == 1
    summary = replay(saved, replayed)  # again: nothing changes, nothing is recorded twice
    assert summary.runs_resumed == 1 and dump_beamtime(replayed) == dump
