"""Tests for resonance_callback.external, with real devices writing real files."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import h5py
import numpy as np
import pytest
import tifffile
from bluesky import RunEngine
from event_model import pack_datum_page
from ophyd.sim import SynAxis, SynSignalWithRegistry, hw
from ophyd_async.core import (
    StaticFilenameProvider,
    StaticPathProvider,
    StreamResourceDataProvider,
    StreamResourceInfo,
    TriggerInfo,
    init_devices,
    soft_signal_r_and_setter,
)
from ophyd_async.sim import SimBlobDetector
from PIL import Image

from resonance_callback.errors import ExternalDataError, FrameShapeError, UnsafePathError
from resonance_callback.external import (
    DEFAULT_HANDLERS,
    ExternalResolver,
    StreamFrames,
)

Docs = list[tuple[str, dict[str, Any]]]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def run_engine() -> RunEngine:
    return RunEngine({}, context_managers=[])


def run_and_capture(run_engine: RunEngine, plan) -> Docs:
    docs: Docs = []
    run_engine(plan, lambda name, doc: docs.append((name, doc)))
    return docs


def of(docs: Docs, name: str) -> list[dict[str, Any]]:
    return [doc for n, doc in docs if n == name]


def feed_v1(resolver: ExternalResolver, docs: Docs) -> None:
    for name, doc in docs:
        if name == "resource":
            resolver.add_resource(doc)
        elif name == "datum":
            resolver.add_datum(doc)
        elif name == "datum_page":
            resolver.add_datum_page(doc)


def feed_stream(resolver: ExternalResolver, docs: Docs) -> list[tuple[dict, StreamFrames]]:
    """Register stream resources and read every stream_datum, as the callback will."""
    descriptors: dict[str, dict] = {}
    data_keys: dict[str, str] = {}
    out = []
    for name, doc in docs:
        if name == "descriptor":
            descriptors[doc["uid"]] = doc
        elif name == "stream_resource":
            resolver.add_stream_resource(doc)
            data_keys[doc["uid"]] = doc["data_key"]
        elif name == "stream_datum":
            key = data_keys[doc["stream_resource"]]
            shape = descriptors[doc["descriptor"]]["data_keys"][key]["shape"]
            out.append((doc, resolver.read_stream_datum(doc, shape, wait=2)))
    return out


def varying_frames(shape=(6, 5), dtype=np.uint16) -> Callable[[], np.ndarray]:
    counter = iter(range(1000))

    def make() -> np.ndarray:
        n = next(counter)
        return (np.arange(np.prod(shape)).reshape(shape) * (n + 1)).astype(dtype)

    return make


def resource_doc(uid: str, spec: str, root: str, resource_path: str, **kwargs) -> dict:
    return {
        "uid": uid,
        "spec": spec,
        "root": root,
        "resource_path": resource_path,
        "resource_kwargs": kwargs,
        "path_semantics": "posix",
        "run_start": "run-1",
    }


def datum_doc(resource: str, number: int, **kwargs) -> dict:
    return {"resource": resource, "datum_id": f"{resource}/{number}", "datum_kwargs": kwargs}


def blob_detector(tmp_path: Path, name: str = "det") -> SimBlobDetector:
    provider = StaticPathProvider(StaticFilenameProvider(name), tmp_path)
    with init_devices():
        det = SimBlobDetector(provider, name=name)
    return det


def fly_plan(det: SimBlobDetector, events: int, collections_per_event: int):
    info = TriggerInfo(
        number_of_events=events,
        livetime=0.005,
        deadtime=0.005,
        collections_per_event=collections_per_event,
    )
    yield from bps.stage(det)
    yield from bps.open_run()
    yield from bps.prepare(det, info, wait=True)
    yield from bps.declare_stream(det, name="primary", collect=True)
    yield from bps.kickoff(det, wait=True)
    yield from bps.collect_while_completing([det], [det], flush_period=0.02, stream_name="primary")
    yield from bps.close_run()
    yield from bps.unstage(det)


def expected_from_hdf5(path: Path, dataset: str, frames: StreamFrames, shape) -> np.ndarray:
    per_event = int(np.prod(shape)) // int(np.prod(h5py_frame_shape(path, dataset)) or 1)
    start, stop = frames.indices.start * per_event, frames.indices.stop * per_event
    with h5py.File(path, "r") as f:
        return f[dataset][start:stop].reshape((len(frames.indices), *shape))


def h5py_frame_shape(path: Path, dataset: str) -> tuple[int, ...]:
    with h5py.File(path, "r") as f:
        return f[dataset].shape[1:]


# --------------------------------------------------------------------------- ophyd v1: NPY_SEQ


def test_ophyd_sim_img_count_fills_every_datum_pixel_for_pixel(run_engine, tmp_path):
    img = hw(save_path=str(tmp_path)).img
    docs = run_and_capture(run_engine, bp.count([img], num=3))
    resolver = ExternalResolver()
    feed_v1(resolver, docs)
    (resource,) = of(docs, "resource")
    events = of(docs, "event")
    assert len(events) == 3
    for event in events:
        datum_id = event["data"]["img"]
        index = datum_id.rsplit("/", 1)[1]
        on_disk = np.load(Path(resource["root"]) / f"{resource['resource_path']}_{index}.npy")
        got = resolver.fill(datum_id)
        assert got.dtype == on_disk.dtype
        np.testing.assert_array_equal(got, on_disk)


def test_ophyd_sim_img_scan_fills_every_datum_pixel_for_pixel(run_engine, tmp_path):
    img = SynSignalWithRegistry(func=varying_frames(), name="img", save_path=str(tmp_path))
    motor = SynAxis(name="motor")
    docs = run_and_capture(run_engine, bp.scan([img], motor, 0, 1, 4))
    resolver = ExternalResolver()
    feed_v1(resolver, docs)
    (resource,) = of(docs, "resource")
    filled = []
    for event in of(docs, "event"):
        datum_id = event["data"]["img"]
        index = datum_id.rsplit("/", 1)[1]
        on_disk = np.load(Path(resource["root"]) / f"{resource['resource_path']}_{index}.npy")
        got = resolver.fill(datum_id)
        assert got.dtype == np.uint16 == on_disk.dtype
        np.testing.assert_array_equal(got, on_disk)
        filled.append(got)
    assert len(filled) == 4
    assert len({a.tobytes() for a in filled}) == 4  # every event has its own frame


def test_datum_page_is_unpacked_into_fillable_datums(run_engine, tmp_path):
    img = SynSignalWithRegistry(func=varying_frames(), name="img", save_path=str(tmp_path))
    docs = run_and_capture(run_engine, bp.count([img], num=3))
    resolver = ExternalResolver()
    resolver.add_resource(of(docs, "resource")[0])
    datums = of(docs, "datum")
    resolver.add_datum_page(pack_datum_page(*datums))
    for datum in datums:
        assert resolver.fill(datum["datum_id"]).shape == (6, 5)


def test_root_map_finds_ophyd_files_after_the_directory_moved(run_engine, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    img = SynSignalWithRegistry(func=varying_frames(), name="img", save_path=str(old))
    docs = run_and_capture(run_engine, bp.count([img], num=2))
    new = tmp_path / "moved"
    shutil.move(old, new)
    resolver = ExternalResolver(root_map={str(old): str(new)})
    feed_v1(resolver, docs)
    resource = of(docs, "resource")[0]
    for event in of(docs, "event"):
        index = event["data"]["img"].rsplit("/", 1)[1]
        on_disk = np.load(new / f"{resource['resource_path']}_{index}.npy")
        np.testing.assert_array_equal(resolver.fill(event["data"]["img"], wait=0), on_disk)


def test_root_map_uses_the_longest_matching_prefix_at_a_component_boundary(tmp_path):
    (tmp_path / "b").mkdir()
    np.save(tmp_path / "b" / "x_0.npy", np.ones(2))
    resolver = ExternalResolver(root_map={"/data": "/nowhere", "/data/a": str(tmp_path / "b")})
    resolver.add_resource(resource_doc("r", "NPY_SEQ", "/data/a", "x"))
    resolver.add_datum(datum_doc("r", 0, index=0))
    np.testing.assert_array_equal(resolver.fill("r/0", wait=0), np.ones(2))
    # "/data" must not rewrite "/database".
    other = ExternalResolver(root_map={"/data": str(tmp_path)})
    other.add_resource(resource_doc("s", "NPY_SEQ", "/database", "x"))
    other.add_datum(datum_doc("s", 0, index=0))
    with pytest.raises(ExternalDataError, match="/database/x"):
        other.fill("s/0", wait=0)


def test_relative_root_resolves_against_base_dir(tmp_path):
    (tmp_path / "rel").mkdir()
    np.save(tmp_path / "rel" / "stem_0.npy", np.arange(4, dtype=np.int32))
    resolver = ExternalResolver(base_dir=tmp_path)
    resolver.add_resource(resource_doc("r", "NPY_SEQ", "rel", "stem"))
    resolver.add_datum(datum_doc("r", 0, index=0))
    got = resolver.fill("r/0", wait=0)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.arange(4))


# --------------------------------------------------------------------------- AD_HDF5 / AD_TIFF


def write_ad_hdf5(path: Path, frames: np.ndarray) -> None:
    """Lay out a file as the area-detector HDF5 plugin does (NDFileHDF5 default layout)."""
    with h5py.File(path, "w") as f:
        f.create_dataset(
            "/entry/data/data",
            data=frames,
            chunks=(1, *frames.shape[1:]),
            maxshape=(None,) + frames.shape[1:],
        )
        f.create_group("/entry/instrument/NDAttributes")


def ad_frames(n: int, shape=(8, 9), dtype=np.uint16) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 60000, size=(n, *shape)).astype(dtype)


def test_ad_hdf5_one_frame_per_point_returns_two_dimensional_frames(tmp_path):
    frames = ad_frames(4)
    write_ad_hdf5(tmp_path / "scan_000.h5", frames)
    resolver = ExternalResolver()
    resolver.add_resource(
        resource_doc("h", "AD_HDF5", "/", str(tmp_path / "scan_000.h5")[1:], frame_per_point=1)
    )
    for i in range(4):
        resolver.add_datum(datum_doc("h", i, point_number=i))
        got = resolver.fill(f"h/{i}", wait=0)
        assert got.shape == (8, 9) and got.dtype == np.uint16
        np.testing.assert_array_equal(got, frames[i])


def test_ad_hdf5_several_frames_per_point_returns_the_points_block(tmp_path):
    frames = ad_frames(6, dtype=np.float32)
    write_ad_hdf5(tmp_path / "scan.h5", frames)
    resolver = ExternalResolver()
    resolver.add_resource(
        resource_doc("h", "AD_HDF5", str(tmp_path), "scan.h5", frame_per_point=3)
    )
    resolver.add_datum(datum_doc("h", 1, point_number=1))
    got = resolver.fill("h/1", wait=0)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, frames[3:6])


def test_ad_hdf5_point_beyond_written_frames_waits_then_fails_naming_file(tmp_path):
    write_ad_hdf5(tmp_path / "short.h5", ad_frames(2))
    resolver = ExternalResolver()
    resolver.add_resource(
        resource_doc("h", "AD_HDF5", str(tmp_path), "short.h5", frame_per_point=1)
    )
    resolver.add_datum(datum_doc("h", 5, point_number=5))
    with pytest.raises(ExternalDataError, match=r"short\.h5.*holds 2 frames"):
        resolver.fill("h/5", wait=0.2)


def write_ad_tiffs(directory: Path, filename: str, frames: np.ndarray) -> str:
    """Write one TIFF per frame as the AD TIFF plugin does; return its FileTemplate."""
    template = "%s%s_%6.6d.tiff"
    for j, frame in enumerate(frames):
        tifffile.imwrite(template % (str(directory) + os.sep, filename, j), frame)
    return template


@pytest.mark.parametrize("frame_per_point", [1, 2])
def test_ad_tiff_reads_the_plugin_file_sequence(tmp_path, frame_per_point):
    frames = ad_frames(4)
    template = write_ad_tiffs(tmp_path, "cam", frames)
    resolver = ExternalResolver()
    resolver.add_resource(
        resource_doc(
            "t",
            "AD_TIFF",
            str(tmp_path),
            "",
            template=template,
            filename="cam",
            frame_per_point=frame_per_point,
        )
    )
    for point in range(4 // frame_per_point):
        resolver.add_datum(datum_doc("t", point, point_number=point))
        got = resolver.fill(f"t/{point}", wait=0)
        block = frames[point * frame_per_point : (point + 1) * frame_per_point]
        expected = block[0] if frame_per_point == 1 else block
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got, expected)


def test_ad_tiff_template_leaving_the_directory_is_refused(tmp_path):
    resolver = ExternalResolver()
    resolver.add_resource(
        resource_doc("t", "AD_TIFF", str(tmp_path), "", template="/etc/%s%s_%d", filename="passwd")
    )
    resolver.add_datum(datum_doc("t", 0, point_number=0))
    with pytest.raises(UnsafePathError, match="outside the directory"):
        resolver.fill("t/0", wait=1)


# --------------------------------------------------------------------------- registry


class DoublingNpyHandler:
    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, index: int) -> np.ndarray:
        return np.load(f"{self.path}_{index}.npy") * 2


class ConstantHandler:
    closed = False

    def __init__(self, path: str, value: int) -> None:
        self.value = value

    def __call__(self, n: int) -> np.ndarray:
        return np.full(3, self.value + n, dtype=np.int8)

    def close(self) -> None:
        ConstantHandler.closed = True


def test_user_handler_overrides_builtin_and_adds_new_spec(tmp_path):
    np.save(tmp_path / "s_0.npy", np.arange(3))
    resolver = ExternalResolver({"NPY_SEQ": DoublingNpyHandler, "CONST": ConstantHandler})
    assert resolver.handler_registry["AD_HDF5"] is DEFAULT_HANDLERS["AD_HDF5"]
    resolver.add_resource(resource_doc("a", "NPY_SEQ", str(tmp_path), "s"))
    resolver.add_resource(resource_doc("b", "CONST", str(tmp_path), "", value=10))
    resolver.add_datum(datum_doc("a", 0, index=0))
    resolver.add_datum(datum_doc("b", 0, n=1))
    np.testing.assert_array_equal(resolver.fill("a/0"), [0, 2, 4])
    np.testing.assert_array_equal(resolver.fill("b/0"), [11, 11, 11])
    resolver.forget_run("run-1")
    assert ConstantHandler.closed


def test_register_handler_adds_a_spec_after_construction(tmp_path):
    resolver = ExternalResolver()
    resolver.register_handler("CONST", ConstantHandler)
    resolver.add_resource(resource_doc("b", "CONST", str(tmp_path), "", value=1))
    resolver.add_datum(datum_doc("b", 0, n=0))
    assert resolver.fill("b/0").tolist() == [1, 1, 1]


def test_unknown_spec_is_refused_naming_resource_and_spec(tmp_path):
    resolver = ExternalResolver()
    with pytest.raises(ExternalDataError, match=r"resource r1: no handler for spec 'WEIRD'"):
        resolver.add_resource(resource_doc("r1", "WEIRD", str(tmp_path), "x"))


def test_datum_of_unknown_resource_and_unknown_datum_are_refused():
    resolver = ExternalResolver()
    with pytest.raises(ExternalDataError, match="datum nope/0 refers to unknown resource nope"):
        resolver.add_datum(datum_doc("nope", 0, index=0))
    with pytest.raises(ExternalDataError, match="unknown datum ghost"):
        resolver.fill("ghost")


def test_forget_run_drops_resources_datums_and_stream_resources(tmp_path):
    np.save(tmp_path / "s_0.npy", np.arange(3))
    resolver = ExternalResolver()
    resolver.add_resource(resource_doc("a", "NPY_SEQ", str(tmp_path), "s"))
    resolver.add_datum(datum_doc("a", 0, index=0))
    resolver.add_stream_resource(stream_resource_doc("sr", f"file://localhost{tmp_path}/f.h5"))
    other = resource_doc("b", "NPY_SEQ", str(tmp_path), "s") | {"run_start": "run-2"}
    resolver.add_resource(other)
    resolver.add_datum(datum_doc("b", 0, index=0))
    resolver.forget_run("run-1")
    with pytest.raises(ExternalDataError, match="unknown datum a/0"):
        resolver.fill("a/0")
    with pytest.raises(ExternalDataError, match="unknown stream_resource sr"):
        resolver.read_stream_datum(stream_datum_doc("sr", 0, 1), [1])
    np.testing.assert_array_equal(resolver.fill("b/0"), np.arange(3))


# --------------------------------------------------------------------------- waiting


def test_missing_file_retries_for_the_wait_then_raises_naming_file_and_reason(tmp_path):
    resolver = ExternalResolver(poll_interval=0.02)
    resolver.add_resource(resource_doc("r", "NPY_SEQ", str(tmp_path), "absent"))
    resolver.add_datum(datum_doc("r", 0, index=0))
    t0 = time.monotonic()
    with pytest.raises(ExternalDataError) as info:
        resolver.fill("r/0", wait=0.3)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 2.0
    message = str(info.value)
    assert "datum r/0" in message and str(tmp_path / "absent") in message
    assert "FileNotFoundError" in message and "0.3 s" in message


def test_default_wait_is_the_resolver_timeout(tmp_path):
    resolver = ExternalResolver(timeout=0.2)
    resolver.add_resource(resource_doc("r", "NPY_SEQ", str(tmp_path), "absent"))
    resolver.add_datum(datum_doc("r", 0, index=0))
    t0 = time.monotonic()
    with pytest.raises(ExternalDataError, match="after waiting 0.2 s"):
        resolver.fill("r/0")
    assert 0.2 <= time.monotonic() - t0 < 2.0


def test_file_appearing_during_the_wait_is_read(tmp_path):
    resolver = ExternalResolver(poll_interval=0.02)
    resolver.add_resource(resource_doc("r", "NPY_SEQ", str(tmp_path), "late"))
    resolver.add_datum(datum_doc("r", 0, index=0))
    writer = threading.Timer(0.2, lambda: np.save(tmp_path / "late_0.npy", np.full(3, 9.5)))
    writer.start()
    try:
        got = resolver.fill("r/0", wait=5)
    finally:
        writer.join()
    np.testing.assert_array_equal(got, np.full(3, 9.5))


def test_wait_zero_makes_a_single_attempt(tmp_path):
    resolver = ExternalResolver(timeout=30)
    resolver.add_resource(resource_doc("r", "NPY_SEQ", str(tmp_path), "absent"))
    resolver.add_datum(datum_doc("r", 0, index=0))
    t0 = time.monotonic()
    with pytest.raises(ExternalDataError):
        resolver.fill("r/0", wait=0)
    assert time.monotonic() - t0 < 0.5


def test_permanent_errors_are_raised_without_waiting(tmp_path):
    np.save(tmp_path / "s_0.npy", np.arange(3))
    resolver = ExternalResolver(timeout=30)
    resolver.add_resource(resource_doc("r", "NPY_SEQ", str(tmp_path), "s"))
    resolver.add_datum(datum_doc("r", 0, index="0/../../x"))
    t0 = time.monotonic()
    with pytest.raises(ExternalDataError, match="not a non-negative integer"):
        resolver.fill("r/0")
    assert time.monotonic() - t0 < 0.5


# --------------------------------------------------------------------------- hostile paths (v1)


@pytest.mark.parametrize(
    ("root", "resource_path"),
    [("/data/../etc", "passwd"), ("/data", "../../etc/passwd"), ("", "/data/../etc/passwd")],
)
def test_hostile_dotdot_path_is_refused(root, resource_path):
    resolver = ExternalResolver()
    with pytest.raises(UnsafePathError, match=r"resource evil .*'\.\.' component"):
        resolver.add_resource(resource_doc("evil", "NPY_SEQ", root, resource_path))


def test_resource_path_with_a_leading_slash_is_read_under_its_root(tmp_path):
    (tmp_path / "etc").mkdir()
    np.save(tmp_path / "etc" / "passwd_0.npy", np.arange(4, dtype=np.int16))
    resolver = ExternalResolver()
    resolver.add_resource(resource_doc("r", "NPY_SEQ", str(tmp_path), "/etc/passwd"))
    resolver.add_datum(datum_doc("r", 0, index=0))
    got = resolver.fill("r/0", wait=0)
    assert got.dtype == np.int16 and got.tolist() == [0, 1, 2, 3]


def test_leading_slash_under_a_root_still_refuses_dotdot(tmp_path):
    resolver = ExternalResolver()
    with pytest.raises(UnsafePathError, match=r"'\.\.' component"):
        resolver.add_resource(resource_doc("evil", "NPY_SEQ", str(tmp_path), "/../etc/passwd"))


def test_absolute_path_outside_allowed_roots_is_refused(tmp_path):
    resolver = ExternalResolver(allowed_roots=[tmp_path / "data"], base_dir=tmp_path / "data")
    with pytest.raises(UnsafePathError, match=r"'/etc/passwd' is outside the allowed roots"):
        resolver.add_resource(resource_doc("evil", "NPY_SEQ", "/etc", "passwd"))


def test_paths_inside_allowed_roots_and_root_map_targets_are_accepted(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "mapped").mkdir()
    np.save(tmp_path / "data" / "s_0.npy", np.arange(2))
    np.save(tmp_path / "mapped" / "s_0.npy", np.arange(3))
    resolver = ExternalResolver(
        allowed_roots=[tmp_path / "data"], root_map={"/beamline/old": str(tmp_path / "mapped")}
    )
    resolver.add_resource(resource_doc("a", "NPY_SEQ", str(tmp_path / "data"), "s"))
    resolver.add_resource(resource_doc("b", "NPY_SEQ", "/beamline/old", "s"))
    resolver.add_datum(datum_doc("a", 0, index=0))
    resolver.add_datum(datum_doc("b", 0, index=0))
    assert resolver.fill("a/0").tolist() == [0, 1]
    assert resolver.fill("b/0").tolist() == [0, 1, 2]


def test_symlink_leaving_the_allowed_roots_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "data" / "link").symlink_to(tmp_path / "secret")
    resolver = ExternalResolver(allowed_roots=[tmp_path / "data"], base_dir=tmp_path / "data")
    with pytest.raises(UnsafePathError, match="outside the allowed roots"):
        resolver.add_resource(
            resource_doc("evil", "NPY_SEQ", str(tmp_path / "data" / "link"), "s")
        )


# --------------------------------------------------------------------------- ophyd-async HDF5


def test_ophyd_async_step_scan_emits_stream_datums_before_each_empty_event(run_engine, tmp_path):
    det = blob_detector(tmp_path)
    docs = run_and_capture(run_engine, bp.count([det], num=3))
    names = [name for name, _ in docs]
    assert names[:2] == ["start", "descriptor"]
    assert names[2:4] == ["stream_resource", "stream_resource"]
    assert names[4:] == ["stream_datum", "stream_datum", "event"] * 3 + ["stop"]
    events = of(docs, "event")
    assert [e["seq_num"] for e in events] == [1, 2, 3]
    assert all(e["data"] == {} and e["filled"] == {} for e in events)
    datums = [
        d for d in of(docs, "stream_datum") if d["stream_resource"].startswith(docs[2][1]["uid"])
    ]
    assert [(d["indices"]["start"], d["seq_nums"]["start"]) for d in datums] == [
        (0, 1),
        (1, 2),
        (2, 3),
    ]
    descriptor = of(docs, "descriptor")[0]
    assert descriptor["data_keys"]["det"]["shape"] == [1, 240, 320]
    assert descriptor["data_keys"]["det-sum"]["shape"] == [1]


def test_ophyd_async_step_scan_stream_datums_match_the_hdf5_file(run_engine, tmp_path):
    det = blob_detector(tmp_path)
    xs = iter([0.0, 2.0, 4.0])

    def per_shot(detectors, take_reading=bps.trigger_and_read):
        det.pattern_generator.set_x(next(xs))
        return (yield from take_reading(detectors))

    docs = run_and_capture(run_engine, bp.count([det], num=3, per_shot=per_shot))
    resolver = ExternalResolver()
    results = feed_stream(resolver, docs)
    assert len(results) == 6
    sums = []
    for doc, frames in results:
        shape = [1, 240, 320] if frames.data_key == "det" else [1]
        dataset = "/entry/data/data" if frames.data_key == "det" else "/entry/sum"
        expected = expected_from_hdf5(tmp_path / "det.h5", dataset, frames, shape)
        assert frames.array.shape == (1, *shape)
        assert (
            frames.array.dtype
            == expected.dtype
            == (np.uint8 if frames.data_key == "det" else np.int64)
        )
        np.testing.assert_array_equal(frames.array, expected)
        assert frames.seq_nums == range(doc["seq_nums"]["start"], doc["seq_nums"]["stop"])
        assert frames.descriptor == doc["descriptor"]
        if frames.data_key == "det-sum":
            sums.append(int(frames.array[0, 0]))
    assert len(set(sums)) == 3  # three different frames, each read from its own row


def test_ophyd_async_stream_datum_is_readable_live_while_the_file_is_open(run_engine, tmp_path):
    det = blob_detector(tmp_path)
    resolver = ExternalResolver()
    descriptors: dict[str, dict] = {}
    keys: dict[str, str] = {}
    live: list[StreamFrames] = []

    def callback(name: str, doc: dict) -> None:
        if name == "descriptor":
            descriptors[doc["uid"]] = doc
        elif name == "stream_resource":
            resolver.add_stream_resource(doc)
            keys[doc["uid"]] = doc["data_key"]
        elif name == "stream_datum":
            shape = descriptors[doc["descriptor"]]["data_keys"][keys[doc["stream_resource"]]][
                "shape"
            ]
            live.append(resolver.read_stream_datum(doc, shape, wait=2))

    run_engine.subscribe(callback)
    run_engine(bp.count([det], num=2))
    assert [f.data_key for f in live] == ["det", "det-sum"] * 2
    with h5py.File(tmp_path / "det.h5", "r") as f:
        np.testing.assert_array_equal(live[2].array[0, 0], f["/entry/data/data"][1])
        assert live[3].array[0, 0] == f["/entry/sum"][1]


@pytest.mark.parametrize("collections_per_event", [1, 2])
def test_ophyd_async_fly_scan_stream_datums_match_the_hdf5_file(
    run_engine, tmp_path, collections_per_event
):
    det = blob_detector(tmp_path)
    docs = run_and_capture(
        run_engine, fly_plan(det, events=6, collections_per_event=collections_per_event)
    )
    assert of(docs, "event") == []  # a fly scan emits stream_datum only
    shapes = of(docs, "descriptor")[0]["data_keys"]
    assert shapes["det"]["shape"] == [collections_per_event, 240, 320]
    resolver = ExternalResolver()
    results = feed_stream(resolver, docs)
    seen = {"det": [], "det-sum": []}
    for _, frames in results:
        shape = shapes[frames.data_key]["shape"]
        dataset = "/entry/data/data" if frames.data_key == "det" else "/entry/sum"
        expected = expected_from_hdf5(tmp_path / "det.h5", dataset, frames, shape)
        assert frames.array.shape == (len(frames.seq_nums), *shape)
        assert frames.array.dtype == expected.dtype
        np.testing.assert_array_equal(frames.array, expected)
        seen[frames.data_key].extend(frames.seq_nums)
    assert seen["det"] == seen["det-sum"] == list(range(1, 7))
    with h5py.File(tmp_path / "det.h5", "r") as f:
        assert f["/entry/data/data"].shape[0] == 6 * collections_per_event


@pytest.fixture
def fly_docs(run_engine, tmp_path) -> Docs:
    return run_and_capture(
        run_engine, fly_plan(blob_detector(tmp_path), events=4, collections_per_event=1)
    )


def test_declared_shape_without_leading_one_is_kept(fly_docs, tmp_path):
    resolver = ExternalResolver()
    for doc in of(fly_docs, "stream_resource"):
        resolver.add_stream_resource(doc)
    by_key = {d["uid"]: d["data_key"] for d in of(fly_docs, "stream_resource")}
    with h5py.File(tmp_path / "det.h5", "r") as f:
        data, sums = f["/entry/data/data"][:], f["/entry/sum"][:]
    for doc in of(fly_docs, "stream_datum"):
        start, stop = doc["indices"]["start"], doc["indices"]["stop"]
        if by_key[doc["stream_resource"]] == "det":
            frames = resolver.read_stream_datum(doc, [240, 320], wait=0)
            assert frames.array.shape == (stop - start, 240, 320)
            np.testing.assert_array_equal(frames.array, data[start:stop])
        else:
            frames = resolver.read_stream_datum(doc, [], wait=0)
            assert frames.array.shape == (stop - start,) and frames.array.dtype == np.int64
            np.testing.assert_array_equal(frames.array, sums[start:stop])


def test_declared_shape_the_file_cannot_provide_is_refused(fly_docs):
    resolver = ExternalResolver(timeout=30)
    for doc in of(fly_docs, "stream_resource"):
        resolver.add_stream_resource(doc)
    datum = next(d for d in of(fly_docs, "stream_datum") if "det-sum" not in _key(fly_docs, d))
    with pytest.raises(FrameShapeError, match=r"declared per-event shape \[1, 320, 240\]"):
        resolver.read_stream_datum(datum, [1, 320, 240])
    with pytest.raises(ExternalDataError, match="variable-sized"):
        resolver.read_stream_datum(datum, [None, 240, 320])


def _key(docs: Docs, stream_datum: dict) -> str:
    return next(
        d["data_key"]
        for d in of(docs, "stream_resource")
        if d["uid"] == stream_datum["stream_resource"]
    )


def test_stream_datum_beyond_the_written_frames_waits_then_fails(fly_docs, tmp_path):
    resolver = ExternalResolver()
    sres = of(fly_docs, "stream_resource")[0]
    resolver.add_stream_resource(sres)
    late = stream_datum_doc(sres["uid"], 10, 12)
    with pytest.raises(
        ExternalDataError, match=r"det\.h5 dataset /entry/data/data holds 4 frames, 12 needed"
    ):
        resolver.read_stream_datum(late, [1, 240, 320], wait=0.2)


def test_root_map_applies_to_stream_resource_uris_after_the_files_moved(run_engine, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    docs = run_and_capture(
        run_engine, fly_plan(blob_detector(old), events=3, collections_per_event=1)
    )
    new = tmp_path / "new"
    shutil.move(old, new)
    resolver = ExternalResolver(root_map={str(old): str(new)}, allowed_roots=[])
    results = feed_stream(resolver, docs)
    with h5py.File(new / "det.h5", "r") as f:
        data = f["/entry/data/data"][:]
    det_frames = [frames for _, frames in results if frames.data_key == "det"]
    np.testing.assert_array_equal(np.concatenate([f.array for f in det_frames])[:, 0], data)


def test_missing_stream_file_retries_then_raises_naming_file(tmp_path):
    resolver = ExternalResolver(poll_interval=0.02)
    resolver.add_stream_resource(stream_resource_doc("sr", f"file://localhost{tmp_path}/gone.h5"))
    t0 = time.monotonic()
    with pytest.raises(ExternalDataError) as info:
        resolver.read_stream_datum(stream_datum_doc("sr", 0, 1), [1, 4, 4], wait=0.25)
    assert time.monotonic() - t0 >= 0.25
    assert f"{tmp_path}/gone.h5" in str(info.value) and "stream_datum sr/0" in str(info.value)


def test_inconsistent_indices_and_seq_nums_are_refused(tmp_path):
    resolver = ExternalResolver()
    resolver.add_stream_resource(stream_resource_doc("sr", f"file://localhost{tmp_path}/f.h5"))
    bad = stream_datum_doc("sr", 0, 2) | {"seq_nums": {"start": 1, "stop": 2}}
    with pytest.raises(ExternalDataError, match="stream_datum sr/0: indices"):
        resolver.read_stream_datum(bad, [1])


# --------------------------------------------------------------------------- ophyd-async multipart


def stream_resource_doc(
    uid: str, uri: str, mimetype: str = "application/x-hdf5", **parameters
) -> dict:
    parameters = parameters or {"dataset": "/entry/data/data", "chunk_shape": (1, 4, 4)}
    return {
        "uid": uid,
        "uri": uri,
        "mimetype": mimetype,
        "data_key": "cam",
        "parameters": parameters,
        "run_start": "run-1",
    }


def stream_datum_doc(sres: str, start: int, stop: int, counter: int = 0) -> dict:
    return {
        "uid": f"{sres}/{counter}",
        "stream_resource": sres,
        "descriptor": "desc-1",
        "indices": {"start": start, "stop": stop},
        "seq_nums": {"start": start + 1, "stop": stop + 1},
    }


def ad_multipart_docs(
    directory: Path, filename: str, extension: str, mimetype: str, frame_shape, dtype, steps, cpe
) -> tuple[dict, list[dict], list[int]]:
    """Emit the documents ophyd-async's ADMultipartDataLogic would, via its real provider.

    ``steps`` are the collections written at each collect; descriptor and seq_nums are
    filled in as the RunEngine does.
    """

    async def emit():
        signal, _ = soft_signal_r_and_setter(int)
        provider = StreamResourceDataProvider(
            uri=directory.as_uri().replace("file:///", "file://localhost/") + "/",
            resources=[
                StreamResourceInfo(
                    data_key="cam",
                    shape=frame_shape,
                    chunk_shape=(1, *frame_shape),
                    dtype_numpy=np.dtype(dtype).str,
                    parameters={"template": filename + "_{:06d}" + extension},
                )
            ],
            mimetype=mimetype,
            collections_written_signal=signal,
        )
        datakeys = await provider.make_datakeys(cpe)
        docs = [doc for n in steps async for doc in provider.make_stream_docs(n, cpe)]
        return datakeys, docs

    datakeys, docs = asyncio.run(emit())
    (sres,) = [doc for name, doc in docs if name == "stream_resource"]
    datums = [doc for name, doc in docs if name == "stream_datum"]
    for datum in datums:
        datum["descriptor"] = "desc-1"
        datum["seq_nums"] = {
            "start": datum["indices"]["start"] + 1,
            "stop": datum["indices"]["stop"] + 1,
        }
    return sres, datums, datakeys["cam"]["shape"]


@pytest.mark.parametrize("cpe", [1, 2])
def test_tiff_stream_resource_reads_the_numbered_files(tmp_path, cpe):
    frames = ad_frames(6 * cpe, shape=(5, 7))
    for i, frame in enumerate(frames):
        tifffile.imwrite(tmp_path / f"cam_{i:06d}.tiff", frame)
    sres, datums, shape = ad_multipart_docs(
        tmp_path,
        "cam",
        ".tiff",
        "multipart/related;type=image/tiff",
        (5, 7),
        np.uint16,
        [2 * cpe, 6 * cpe],
        cpe,
    )
    assert sres["uri"] == f"file://localhost{tmp_path}/"
    assert shape == [cpe, 5, 7]
    resolver = ExternalResolver()
    resolver.add_stream_resource(sres)
    got = [resolver.read_stream_datum(d, shape, wait=0) for d in datums]
    assert [g.seq_nums for g in got] == [range(1, 3), range(3, 7)]
    stacked = np.concatenate([g.array for g in got])
    assert stacked.dtype == np.uint16 and stacked.shape == (6, cpe, 5, 7)
    np.testing.assert_array_equal(stacked.reshape(-1, 5, 7), frames)


def test_jpeg_stream_resource_reads_the_numbered_files(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (6, 8), dtype=np.uint8)).save(
            tmp_path / f"cam_{i:06d}.jpg"
        )
    sres, datums, shape = ad_multipart_docs(
        tmp_path, "cam", ".jpg", "multipart/related;type=image/jpeg", (6, 8), np.uint8, [3], 1
    )
    resolver = ExternalResolver()
    resolver.add_stream_resource(sres)
    (frames,) = [resolver.read_stream_datum(d, shape, wait=0) for d in datums]
    for i in range(3):
        expected = np.asarray(Image.open(tmp_path / f"cam_{i:06d}.jpg"))
        assert frames.array.dtype == np.uint8
        np.testing.assert_array_equal(frames.array[i, 0], expected)


def test_jpeg_without_pillow_fails_at_once_naming_the_file_and_the_extra(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((6, 8), np.uint8)).save(tmp_path / "cam_000000.jpg")
    sres, datums, shape = ad_multipart_docs(
        tmp_path, "cam", ".jpg", "multipart/related;type=image/jpeg", (6, 8), np.uint8, [1], 1
    )
    resolver = ExternalResolver()
    resolver.add_stream_resource(sres)
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    started = time.monotonic()
    with pytest.raises(ExternalDataError) as raised:
        resolver.read_stream_datum(datums[0], shape, wait=30)
    assert time.monotonic() - started < 5  # waiting does not install a package
    message = str(raised.value)
    assert f"{tmp_path}" in message
    assert "needs Pillow: pip install 'resonance-callback[jpeg]'" in message
    assert "\n" not in message


def test_missing_tiff_in_the_sequence_raises_naming_that_file(tmp_path):
    tifffile.imwrite(tmp_path / "cam_000000.tiff", np.zeros((2, 2), np.uint8))
    sres, datums, shape = ad_multipart_docs(
        tmp_path, "cam", ".tiff", "multipart/related;type=image/tiff", (2, 2), np.uint8, [2], 1
    )
    resolver = ExternalResolver()
    resolver.add_stream_resource(sres)
    with pytest.raises(ExternalDataError, match="cam_000001.tiff"):
        resolver.read_stream_datum(datums[0], shape, wait=0.1)


def test_multipart_template_with_dotdot_is_refused(tmp_path):
    resolver = ExternalResolver()
    resolver.add_stream_resource(
        stream_resource_doc(
            "sr",
            f"file://localhost{tmp_path}/",
            "multipart/related;type=image/tiff",
            template="../x_{:06d}.tiff",
        )
    )
    with pytest.raises(UnsafePathError, match=r"'\.\.'"):
        resolver.read_stream_datum(stream_datum_doc("sr", 0, 1), [1, 2, 2], wait=5)


def test_unsupported_mimetype_is_refused_naming_it(tmp_path):
    resolver = ExternalResolver()
    with pytest.raises(
        ExternalDataError, match=r"stream_resource sr: mimetype 'text/csv;header=absent'"
    ):
        resolver.add_stream_resource(
            stream_resource_doc(
                "sr", f"file://localhost{tmp_path}/a.csv", "text/csv;header=absent"
            )
        )


# --------------------------------------------------------------------------- hostile URIs


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://localhost/data/x.h5", "scheme 'http'"),
        ("https://example.org/x.h5", "scheme 'https'"),
        ("file://beamline-nas.example.org/data/x.h5", "names host 'beamline-nas.example.org'"),
        ("file://localhost/data/../etc/passwd", r"'\.\.'"),
        ("file://localhost/data/%2e%2e/etc/passwd", r"'\.\.'"),
        ("file://localhost/data/x.h5?dataset=/etc", "query or fragment"),
    ],
)
def test_hostile_uri_is_refused(uri, reason):
    resolver = ExternalResolver()
    with pytest.raises(UnsafePathError, match=reason):
        resolver.add_stream_resource(stream_resource_doc("evil", uri))


def test_uri_outside_allowed_roots_is_refused(tmp_path):
    resolver = ExternalResolver(allowed_roots=[tmp_path], base_dir=tmp_path)
    with pytest.raises(UnsafePathError, match="'/etc/x.h5' is outside the allowed roots"):
        resolver.add_stream_resource(stream_resource_doc("evil", "file://localhost/etc/x.h5"))


def test_empty_host_and_percent_encoded_uri_resolve(tmp_path):
    directory = tmp_path / "with space"
    directory.mkdir()
    write_ad_hdf5(directory / "f.h5", ad_frames(2, shape=(4, 4)))
    resolver = ExternalResolver()
    resolver.add_stream_resource(stream_resource_doc("sr", (directory / "f.h5").as_uri()))
    frames = resolver.read_stream_datum(stream_datum_doc("sr", 1, 2), [1, 4, 4], wait=0)
    np.testing.assert_array_equal(frames.array[0, 0], ad_frames(2, shape=(4, 4))[1])


def open_hdf5_files(path: Path) -> list:
    ids = h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE)
    return [i for i in ids if i.valid and os.fsdecode(i.name) == str(path)]


def test_resolver_holds_no_open_hdf5_file_after_reads(tmp_path):
    path = tmp_path / "f.h5"
    write_ad_hdf5(path, ad_frames(2, shape=(4, 4)))
    resolver = ExternalResolver()
    resolver.add_stream_resource(stream_resource_doc("sr", f"file://localhost{path}"))
    resolver.read_stream_datum(stream_datum_doc("sr", 0, 2), [1, 4, 4], wait=0)
    resolver.add_resource(resource_doc("h", "AD_HDF5", str(tmp_path), "f.h5"))
    resolver.add_datum(datum_doc("h", 0, point_number=0))
    resolver.fill("h/0", wait=0)
    assert open_hdf5_files(path) == []
    # Opening for writing in this process fails while a read-only handle is open.
    with h5py.File(path, "r+") as f:
        assert f["/entry/data/data"].shape == (2, 4, 4)


def test_stream_resource_from_before_event_model_1_20_is_read_as_tiledwriter_reads_it(
    tmp_path,
):
    frames = ad_frames(3, shape=(4, 5))
    write_ad_hdf5(tmp_path / "f.h5", frames)
    legacy = {"uid": "old", "data_key": "det", "spec": "AD_HDF5_SWMR_SLICE",
              "root": str(tmp_path), "resource_path": "/f.h5", "path_semantics": "posix",
              "resource_kwargs": {"path": "/entry/data/data", "multiplier": 1}}
    resolver = ExternalResolver()
    resolver.add_stream_resource(legacy)
    datum = {"uid": "old/0", "stream_resource": "old", "descriptor": "d",
             "indices": {"start": 1, "stop": 3}, "seq_nums": {"start": 2, "stop": 4}}
    got = resolver.read_stream_datum(datum, [1, 4, 5], wait=0)
    assert got.array.dtype == frames.dtype and got.array.shape == (2, 1, 4, 5)
    np.testing.assert_array_equal(got.array[:, 0], frames[1:3])


def test_stream_resource_without_uri_or_resource_path_is_refused_naming_it(tmp_path):
    legacy = stream_resource_doc("old", "")
    del legacy["uri"]
    resolver = ExternalResolver()
    with pytest.raises(ExternalDataError, match="stream_resource old has no 'uri'"):
        resolver.add_stream_resource(legacy)
