"""open_beamtime / Beamtime / Run: looking runs up, filtering, tables, frames, configuration."""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky import plan_stubs as bps
from bluesky import plans as bp
from bluesky import preprocessors as bpp
from ophyd.sim import SynSignal
from zarr.storage import LocalStore, WrapperStore

from resonance_callback import (
    DataLookupError,
    FrameShapeError,
    NotABeamtimeError,
    RunLookupError,
    RunWriter,
    SampleMetadata,
    StorageError,
    open_beamtime,
)

T0 = 1_700_000_000.0


def write_run(writer: RunWriter, uid: str, *, plan: str = "count", time: float = T0,
              md: dict[str, Any] | None = None, sample: str = "unknown",
              status: str | None = "success", events: int = 2) -> None:
    """One run through the writer API, with chosen uid, time and metadata."""
    writer.open_run(plan, metadata={"uid": uid, "time": time, "plan_name": plan, **(md or {})},
                    uid=uid, sample=SampleMetadata(sample), time=time)
    keys = {"det": {"dtype": "number", "shape": [], "source": "sim"}}
    writer.open_stream("primary", keys, uid=f"{uid}-d", time=time + 0.5)
    for i in range(1, events + 1):
        writer.write_event({"det": i * 1.5}, {"det": time + i}, uid=f"{uid}-e{i}",
                           time=time + i, seq_num=i)
    if status is not None:
        writer.close_run(exit_status=status, time=time + events + 1,
                         stop_document={"uid": f"{uid}-s", "run_start": uid,
                                        "time": time + events + 1, "exit_status": status})


@pytest.fixture
def beamtime(tmp_path: Path) -> Path:
    """Five runs with known uids, times, samples and metadata."""
    db = tmp_path / "bt.db"
    with RunWriter(db, None) as writer:
        write_run(writer, "abc1-0000", time=T0, sample="silicon",
                  md={"operator": "ana", "sample": {"name": "silicon", "formula": "Si"},
                      "temp": 300, "flag": True, "note": None, "nan": math.nan,
                      "huge": 2**70, "tags": ["a", "b"], "scan_id": 1})
        write_run(writer, "abc2-0000", plan="scan", time=T0 + 100, sample="silicon",
                  md={"operator": "bo", "temp": 300.5, "flag": False, "scan_id": 2})
        write_run(writer, "abd0-0000", plan="scan", time=T0 + 200, sample="quartz",
                  status="failed", md={"operator": "ana", "scan_id": 3})
        write_run(writer, "b000-0000", time=T0 + 300, sample="quartz", status="aborted",
                  md={"scan_id": 3})
        write_run(writer, "c000-0000", time=T0 + 400, status=None, events=1)
        writer.close()
    return db


def uids(runs: list[Any]) -> list[str]:
    return [r.uid for r in runs]


def test_runs_are_listed_newest_first_and_counted(beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        assert len(bt) == 5
        assert list(bt) == ["c000-0000", "b000-0000", "abd0-0000", "abc2-0000", "abc1-0000"]
        assert uids(bt.runs()) == list(bt)


def test_a_listed_run_reads_the_same_start_sample_and_metadata_as_one_looked_up(
        beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        listed = {run.uid: run for run in bt.runs()}
        for uid in uids(bt.runs()):
            looked_up = bt[uid]
            run = listed[uid]
            assert (run.plan_name, run.scan_id, run.time_start) == (
                looked_up.plan_name, looked_up.scan_id, looked_up.time_start)
            assert run.sample == looked_up.sample
            assert run.start == looked_up.start
            assert run.metadata == looked_up.metadata
        assert listed["abc1-0000"].start["huge"] == 2**70
        assert listed["abc1-0000"].sample.name == "silicon"
        assert listed["c000-0000"].sample.name == "unknown"


def test_listing_runs_leaves_the_garbage_collector_as_it_found_it(beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        assert gc.isenabled()
        assert len(bt.runs()) == 5 and gc.isenabled()
        with pytest.raises(ValueError):
            bt.runs(exit_status="sideways")
        assert gc.isenabled()
        gc.disable()
        try:
            assert len(bt.runs()) == 5 and not gc.isenabled()
        finally:
            gc.enable()


@pytest.mark.parametrize(("filters", "expected"), [
    ({"sample": "silicon"}, ["abc2-0000", "abc1-0000"]),
    ({"plan": "scan"}, ["abd0-0000", "abc2-0000"]),
    ({"plan": "scan", "sample": "quartz"}, ["abd0-0000"]),
    ({"exit_status": "failed"}, ["abd0-0000"]),
    ({"exit_status": "abort"}, ["b000-0000"]),
    ({"exit_status": "open"}, ["c000-0000"]),
    ({"scan_id": 3}, ["b000-0000", "abd0-0000"]),
    ({"since": T0 + 100, "until": T0 + 300}, ["abd0-0000", "abc2-0000"]),
    ({"since": dt.datetime.fromtimestamp(T0 + 300)}, ["c000-0000", "b000-0000"]),
    ({"until": dt.datetime.fromtimestamp(T0 + 50, dt.UTC).isoformat()}, ["abc1-0000"]),
    ({"where": {"operator": "ana"}}, ["abd0-0000", "abc1-0000"]),
    ({"where": {"sample.formula": "Si"}}, ["abc1-0000"]),
    ({"where": {"temp": 300}}, ["abc1-0000"]),
    ({"where": {"temp": 300.5}}, ["abc2-0000"]),
    ({"where": {"flag": True}}, ["abc1-0000"]),
    ({"where": {"flag": False}}, ["abc2-0000"]),
    ({"where": {"note": None}}, ["abc1-0000"]),
    ({"where": {"nan": math.nan}}, ["abc1-0000"]),
    ({"where": {"huge": 2**70}}, ["abc1-0000"]),
    ({"where": {"tags": ["a", "b"]}}, ["abc1-0000"]),
    ({"where": {"operator": "ana", "scan_id": 3}}, ["abd0-0000"]),
    ({"where": {"operator": "nobody"}}, []),
])
def test_runs_filter_on_columns_and_start_metadata(beamtime: Path, filters: dict[str, Any],
                                                    expected: list[str]) -> None:
    with open_beamtime(beamtime) as bt:
        assert uids(bt.runs(**filters)) == expected


def test_runs_rejects_unknown_exit_status_and_bad_keys(beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        with pytest.raises(ValueError, match="exit_status"):
            bt.runs(exit_status="crashed")
        with pytest.raises(ValueError, match="key"):
            bt.runs(where={'a"b': 1})
        with pytest.raises(ValueError, match="ISO"):
            bt.runs(since="yesterday")


def test_lookup_by_uid_prefix_position_and_scan_id(beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        assert bt["abc1-0000"].uid == "abc1-0000"
        assert bt["abd"].uid == "abd0-0000"
        assert bt["b"].uid == "b000-0000"
        assert bt[-1].uid == "c000-0000"
        assert bt[-5].uid == "abc1-0000"
        assert bt[2].uid == "abc2-0000"
        assert "abc2" in bt and "zzz" not in bt


@pytest.mark.parametrize(("key", "message"), [
    ("abc", "abc2-0000 (scan 2, scan), abc1-0000 (scan 1, count)"),
    ("ab", "ambiguous"),
    (3, "b000-0000 (scan 3, count), abd0-0000 (scan 3, scan)"),
    ("zzz", "no run matches uid 'zzz'"),
    ("", "empty uid"),
    (-6, "no run -6"),
    (99, "no run matches scan_id 99"),
])
def test_lookup_failures_raise_run_lookup_error_naming_candidates(
        beamtime: Path, key: str | int, message: str) -> None:
    with open_beamtime(beamtime) as bt, pytest.raises(RunLookupError) as info:
        bt[key]
    assert isinstance(info.value, KeyError)
    assert message in str(info.value)


def test_run_exposes_start_stop_sample_and_status(beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        run = bt["abc1"]
        assert run.start["operator"] == "ana" and math.isnan(run.start["nan"])
        assert run.start["huge"] == 2**70
        assert run.stop == {"uid": "abc1-0000-s", "run_start": "abc1-0000",
                            "time": T0 + 3, "exit_status": "success"}
        assert run.exit_status == "success"
        assert run.sample is not None and run.sample.name == "silicon"
        assert run.streams == ["primary"]
        open_run = bt["c000"]
        assert open_run.stop is None and open_run.exit_status is None
        assert [n for n, _ in open_run.documents()] == ["start", "descriptor", "event"]


def test_table_has_a_row_per_event_and_no_frame_columns(RE: RunEngine, recorder: Any) -> None:  # noqa: N803
    counter = itertools.count()
    short = SynSignal(name="short", func=lambda: np.arange(3) + next(counter))
    cam = SynSignal(name="cam", func=lambda: np.full((4, 5), next(counter), dtype=np.uint16))
    RE(bp.count([short, cam], num=3))
    recorder.callback.close()
    with open_beamtime(recorder.db) as bt:
        run = bt[-1]
        table = run.table()
        assert list(table.columns) == ["seq_num", "time", "short"]
        assert table["seq_num"].tolist() == [1, 2, 3]
        events = [d for n, d in recorder.docs if n == "event"]
        assert [list(v) for v in table["short"]] == [list(e["data"]["short"]) for e in events]
        assert table["time"].tolist() == [e["time"] for e in events]
        stamped = run.table(timestamps=True)
        assert list(stamped.columns) == ["seq_num", "time", "short", "ts_short"]
        assert run.image_fields() == ["cam"]
        frames = run.images("cam")
        assert frames.shape == (3, 4, 5) and frames.dtype == np.uint16 and len(frames) == 3
        assert [f.tolist() for f in frames] == [e["data"]["cam"].tolist() for e in events]
        with pytest.raises(DataLookupError, match="no stream 'dark'"):
            run.table("dark")
        with pytest.raises(DataLookupError, match=r"fields with frames: \['cam'\]"):
            run.images("short")


class CountingStore(WrapperStore):
    """A read-only store that logs every key read."""

    def __init__(self, store: Any, log: list[str] | None = None) -> None:
        super().__init__(store)
        self.log: list[str] = [] if log is None else log

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        self.log.append(key)
        return await self._store.get(key, prototype, byte_range)

    def _with_store(self, store: Any) -> CountingStore:
        return type(self)(store, self.log)


def test_images_read_only_the_frames_indexed(RE: RunEngine, recorder: Any) -> None:  # noqa: N803
    values = iter(range(-10, 100))  # ophyd reads once or twice before the scan
    cam = SynSignal(name="cam", func=lambda: np.full((8, 8), next(values), dtype=np.int32))
    RE(bp.count([cam], num=6))
    first = int([d for n, d in recorder.docs if n == "event"][0]["data"]["cam"][0, 0])
    recorder.callback.close()
    store = CountingStore(LocalStore(recorder.zarr, read_only=True))
    with open_beamtime(recorder.db, zarr_store=store) as bt:
        frames = bt[-1].images("cam")
        chunks = [k for k in store.log if "/c/" in k]
        assert chunks == []
        assert int(frames[4][0, 0]) == first + 4
        assert [k for k in store.log if "/c/" in k] == [f"{frames.paths[0]}/c/4/0/0"]
        store.log.clear()
        assert frames[1:3, 2, 2].tolist() == [first + 1, first + 2]
        assert frames[[5, 0]][:, 0, 0].tolist() == [first + 5, first]
        assert len([k for k in store.log if "/c/" in k]) == 4
        assert np.asarray(frames).shape == (6, 8, 8)


def test_images_follow_seq_order_and_span_arrays(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    key = {"cam": {"dtype": "array", "shape": [2, 2], "source": "sim"}}
    with RunWriter(db, None) as writer:
        for run, reshape in (("r1", False), ("r2", True)):
            writer.open_run("count", uid=run, time=T0)
            writer.open_stream("primary", key, uid=f"{run}-d1", time=T0)
            for seq in (2, 1):  # written out of order: frame indices 1, 0 in seq order
                writer.write_event({}, {}, uid=f"{run}-e{seq}", time=T0 + seq, seq_num=seq)
                writer.write_image(f"{run}-e{seq}", "cam", np.full((2, 2), seq))
            if reshape:  # a second descriptor with a new frame shape: a second array
                writer.open_stream("primary", {"cam": dict(key["cam"], shape=[3, 3])},
                                   uid=f"{run}-d2", time=T0 + 5)
                writer.write_event({}, {}, uid=f"{run}-e3", time=T0 + 6, seq_num=3)
                writer.write_image(f"{run}-e3", "cam", np.full((3, 3), 3))
            writer.close_run()
    with open_beamtime(db) as bt:
        frames = bt["r1"].images("cam")
        assert frames.shape == (2, 2, 2)
        assert frames[:, 0, 0].tolist() == [1, 2]
        assert frames[::-1, 1, 1].tolist() == [2, 1]
        mixed = bt["r2"].images("cam")
        assert len(mixed) == 3 and mixed.shape == (3,) and mixed.frame_shape is None
        assert len(mixed.paths) == 2
        assert [int(f[0, 0]) for f in mixed] == [1, 2, 3]
        assert mixed[2].shape == (3, 3)
        with pytest.raises(FrameShapeError, match="one at a time"):
            mixed[:2]


def test_config_lists_each_descriptor_of_a_reconfigured_stream(
        RE: RunEngine, sim: dict[str, Any], recorder: Any) -> None:  # noqa: N803
    det = sim["det"]

    @bpp.run_decorator()
    def plan() -> Any:
        yield from bps.trigger_and_read([det])
        yield from bps.configure(det, {"sigma": 2.5})
        yield from bps.trigger_and_read([det])

    RE(plan())
    recorder.callback.close()
    with open_beamtime(recorder.db) as bt:
        run = bt[-1]
        sigmas = [cfg["det_sigma"] for cfg in run.config("primary", "det")]
        assert sigmas == [1, 2.5]
        assert set(run.config()[0]) == {"det"}
        assert len(run.descriptors("primary")) == 2
        with pytest.raises(DataLookupError, match="no device 'motor'"):
            run.config("primary", "motor")


def test_opening_something_else_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no beamtime database"):
        open_beamtime(tmp_path / "missing.db")
    text = tmp_path / "notes.db"
    text.write_text("not a database at all, just text " * 100)
    with pytest.raises(NotABeamtimeError):
        open_beamtime(text)


def test_a_closed_beamtime_refuses_queries(beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        run = bt[-1]
    with pytest.raises(StorageError, match="closed"):
        run.table()
    bt.close()  # twice is fine


def test_a_data_key_named_time_is_the_column_time_and_the_event_times_stay(
        tmp_path: Path) -> None:
    """TiledWriter's rule: data keys ``time``, ``seq_num`` are shown as ``time_``, ``seq_num_``."""
    import event_model

    from resonance_callback import RunWriterCallback, open_beamtime

    bundle = event_model.compose_run(time=1.0)
    desc = bundle.compose_descriptor(
        name="primary", time=1.0,
        data_keys={k: {"dtype": "number", "shape": [], "source": "s"} for k in ("time", "x")})
    with RunWriterCallback(tmp_path / "bt.db") as callback:
        callback("start", bundle.start_doc)
        callback("descriptor", desc.descriptor_doc)
        for i in (1, 2):
            callback("event", desc.compose_event(data={"time": 100.0 + i, "x": float(i)},
                                                 timestamps={"time": 1.0, "x": 1.0},
                                                 seq_num=i, time=10.0 + i))
        callback("stop", bundle.compose_stop(time=20.0))
    with open_beamtime(tmp_path / "bt.db") as bt:
        table = bt[-1].table()
        assert table["time"].tolist() == [11.0, 12.0]
        assert table["time_"].tolist() == [101.0, 102.0] and table["x"].tolist() == [1.0, 2.0]
        dataset = bt[-1]["primary"].read()
        assert dataset["time"].values.tolist() == [11.0, 12.0]
        assert dataset["time_"].values.tolist() == [101.0, 102.0]
