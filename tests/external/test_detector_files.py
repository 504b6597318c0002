"""Detector files into the beamtime: real devices write real files, the callback copies them.

Acceptance (issue 3): every frame in the Zarr store equals, pixel for pixel and in
dtype, the frame in the detector's file, and is found by run, stream, field and
seq_num through image_refs joined to events (fly scans included); deleting the
files afterwards changes nothing; missing and hostile files leave the run stored
with the problem recorded.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import event_model
import h5py
import numpy as np
import pytest
import zarr
from click.testing import CliRunner
from ophyd.sim import SynAxis, SynSignalWithRegistry, hw

from resonance_callback import RunWriterCallback, jsoncodec
from resonance_callback.cli import main
from resonance_callback.external import NpySeqHandler

from ..conftest import Captured, sql
from .test_external import (
    ad_frames,
    blob_detector,
    fly_plan,
    varying_frames,
    write_ad_hdf5,
    write_ad_tiffs,
)

# --------------------------------------------------------------------------- helpers


def capture(RE, plan) -> Captured:
    """Run ``plan`` with only a document capture subscribed."""
    docs = Captured()
    RE(plan, docs)
    return docs


def feed(callback: RunWriterCallback, docs: Iterable[tuple[str, dict[str, Any]]]) -> None:
    for name, doc in docs:
        callback(name, doc)
    callback.flush()


def stored_frames(db_path: Path, run_uid: str, field: str, stream: str = "primary"
                  ) -> dict[int, np.ndarray]:
    """Frames by seq_num, found as a reader would: image_refs joined to events and streams."""
    rows = sql(db_path, "SELECT e.seq_num, i.zarr_path, i.frame_index FROM image_refs i "
                        "JOIN events e ON e.uid = i.event_uid "
                        "JOIN streams s ON s.uid = e.stream_uid "
                        "WHERE s.run_uid = ? AND s.name = ? AND i.field_name = ? "
                        "ORDER BY e.seq_num", (run_uid, stream, field))
    seq_nums = [seq for seq, _, _ in rows]
    assert len(seq_nums) == len(set(seq_nums)), f"duplicate frames for {field}: {seq_nums}"
    group = zarr.open_group(db_path.with_suffix(".zarr"), mode="r")
    return {seq: group[path][index] for seq, path, index in rows}


def stored_events(db_path: Path, run_uid: str) -> list[tuple[str, int, int, dict]]:
    rows = sql(db_path, "SELECT e.uid, e.seq_num, e.derived, e.data FROM events e "
                        "JOIN streams s ON s.uid = e.stream_uid WHERE s.run_uid = ? "
                        "ORDER BY e.seq_num", (run_uid,))
    return [(uid, seq, derived, jsoncodec.loads(data)) for uid, seq, derived, data in rows]


def assert_same(stored: dict[int, np.ndarray], expected: dict[int, np.ndarray]) -> None:
    assert sorted(stored) == sorted(expected)
    for seq, frame in expected.items():
        assert stored[seq].dtype == frame.dtype, seq
        assert stored[seq].shape == frame.shape, seq
        np.testing.assert_array_equal(stored[seq], frame)


def npy_expected(docs: Captured, key: str = "img") -> dict[int, np.ndarray]:
    """Each event's frame, read from the .npy file ophyd.sim wrote."""
    resources = {r["uid"]: r for r in docs.of("resource")}
    datums = {d["datum_id"]: d for d in docs.of("datum")}
    out = {}
    for event in docs.events():
        datum = datums[event["data"][key]]
        resource = resources[datum["resource"]]
        index = datum["datum_kwargs"]["index"]
        out[event["seq_num"]] = np.load(Path(resource["root"]) /
                                        f"{resource['resource_path']}_{index}.npy")
    return out


def hdf5_expected(docs: Captured, path: Path, key: str, dataset: str) -> dict[int, np.ndarray]:
    """Each seq_num's data of ``key``, in its declared shape, read from the HDF5 file."""
    (descriptor,) = docs.of("descriptor")
    shape = descriptor["data_keys"][key]["shape"]
    sres = {d["uid"] for d in docs.of("stream_resource") if d["data_key"] == key}
    with h5py.File(path, "r") as f:
        rows = f[dataset][:]
    per_event = len(rows) // sum(d["indices"]["stop"] - d["indices"]["start"]
                                 for d in docs.of("stream_datum") if d["stream_resource"] in sres)
    out = {}
    for datum in docs.of("stream_datum"):
        if datum["stream_resource"] not in sres:
            continue
        for offset, seq in enumerate(range(datum["seq_nums"]["start"], datum["seq_nums"]["stop"])):
            index = datum["indices"]["start"] + offset
            out[seq] = rows[index * per_event:(index + 1) * per_event].reshape(shape)
    return out


def img_in(directory: Path, dtype=np.uint16) -> SynSignalWithRegistry:
    """An ophyd.sim image signal saving a different frame per trigger as .npy files."""
    directory.mkdir(parents=True, exist_ok=True)
    return SynSignalWithRegistry(func=varying_frames(dtype=dtype), name="img",
                                 save_path=str(directory))


def blob_in(directory: Path):
    """An ophyd-async SimBlobDetector writing ``directory/det.h5`` (directory created)."""
    directory.mkdir(parents=True, exist_ok=True)
    return blob_detector(directory)


def unresolved(db_path: Path) -> list[tuple[str, int, str, str]]:
    return sql(db_path, "SELECT field_name, seq_num, reference, reason FROM unresolved_frames "
                        "ORDER BY seq_num, field_name")


def exit_status(db_path: Path, run_uid: str) -> str:
    return sql(db_path, "SELECT exit_status FROM runs WHERE uid = ?", (run_uid,))[0][0]


@pytest.fixture
def callback(db_path: Path):
    cb = RunWriterCallback(db_path)
    yield cb
    cb.close()


# --------------------------------------------------------------------------- ophyd.sim (NPY_SEQ)


@pytest.mark.parametrize("kind", ["count", "scan"])
def test_ophyd_sim_img_frames_are_copied_and_survive_deleting_the_files(
    RE, callback, db_path, tmp_path, kind
):
    files = tmp_path / "detector"
    img = img_in(files, dtype=np.int32)
    plan = (bp.count([img], num=3) if kind == "count"
            else bp.scan([img], SynAxis(name="motor"), 0, 1, 4))
    docs = Captured()
    RE.subscribe(docs)
    RE.subscribe(callback)
    (uid,) = RE(plan).run_start_uids
    expected = npy_expected(docs)
    shutil.rmtree(files)
    assert len(expected) == (3 if kind == "count" else 4)
    assert_same(stored_frames(db_path, uid, "img"), expected)
    # The event keeps the datum id it carried, and its filled map, for the round trip.
    for event, (_, _, derived, data) in zip(docs.events(), stored_events(db_path, uid),
                                             strict=True):
        assert derived == 0 and data["img"] == event["data"]["img"]
    assert sql(db_path, "SELECT DISTINCT filled FROM events") == [('{"img":false}',)]
    assert unresolved(db_path) == []
    assert sql(db_path, "SELECT count(*) FROM rejected_documents") == [(0,)]
    names = sql(db_path, "SELECT name FROM external_documents ORDER BY ordinal")
    assert [n for (n,) in names] == [n for n, _ in docs if n in ("resource", "datum")]


def test_hw_img_in_a_count_with_a_scalar_detector(RE, callback, db_path, tmp_path):
    devices = hw(save_path=str(tmp_path))
    docs = Captured()
    (uid,) = RE(bp.count([devices.img, devices.det], num=2), [docs, callback]).run_start_uids
    expected = npy_expected(docs)
    assert all(frame.dtype == np.float64 for frame in expected.values())
    assert_same(stored_frames(db_path, uid, "img"), expected)
    assert [data["det"] for *_, data in stored_events(db_path, uid)] == [
        e["data"]["det"] for e in docs.events()]


def test_datum_page_datums_are_kept_and_filled(RE, callback, db_path, tmp_path):
    img = img_in(tmp_path)
    docs = capture(RE, bp.count([img], num=3))
    datums = docs.of("datum")
    paged = [(n, d) for n, d in docs if n != "datum"]
    at = next(i for i, (n, _) in enumerate(paged) if n == "event")
    paged.insert(at, ("datum_page", event_model.pack_datum_page(*datums)))
    for name, doc in paged:
        callback(name, doc)
    callback.flush()
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert_same(stored_frames(db_path, uid, "img"), npy_expected(docs))
    assert sql(db_path, "SELECT count(*) FROM external_documents WHERE name = 'datum'") == [(3,)]


def test_files_are_read_on_the_writer_thread_through_a_user_handler(RE, db_path, tmp_path):
    threads = []

    class RecordingHandler(NpySeqHandler):
        def __call__(self, index: int) -> np.ndarray:
            threads.append(threading.current_thread().name)
            return super().__call__(index) + 1

    img = img_in(tmp_path)
    with RunWriterCallback(db_path, handler_registry={"NPY_SEQ": RecordingHandler}) as cb:
        docs = Captured()
        (uid,) = RE(bp.count([img], num=2), [docs, cb]).run_start_uids
    assert threads == ["resonance-writer"] * 2
    expected = {seq: frame + 1 for seq, frame in npy_expected(docs).items()}
    assert_same(stored_frames(db_path, uid, "img"), expected)


# --------------------------------------------------------------------------- ophyd-async (HDF5)


def test_ophyd_async_step_scan_events_take_over_their_rows(RE, callback, db_path, tmp_path):
    det = blob_in(tmp_path / "det")
    xs = iter([0.0, 2.0, 4.0])

    def per_shot(detectors, take_reading=bps.trigger_and_read):
        det.pattern_generator.set_x(next(xs))
        return (yield from take_reading(detectors))

    docs = Captured()
    (uid,) = RE(bp.count([det], num=3, per_shot=per_shot), [docs, callback]).run_start_uids
    h5 = tmp_path / "det" / "det.h5"
    frames = hdf5_expected(docs, h5, "det", "/entry/data/data")
    sums = hdf5_expected(docs, h5, "det-sum", "/entry/sum")
    shutil.rmtree(tmp_path / "det")
    assert {f.shape for f in frames.values()} == {(1, 240, 320)}  # as the descriptor declares
    assert_same(stored_frames(db_path, uid, "det"), frames)
    assert len({f.tobytes() for f in frames.values()}) == 3
    # One row per event document, with its uid: no derived row left, no duplicate.
    rows = stored_events(db_path, uid)
    assert [(u, s, d) for u, s, d, _ in rows] == [(e["uid"], e["seq_num"], 0)
                                                  for e in docs.events()]
    for _, seq, _, data in rows:
        assert data == {"det-sum": sums[seq].tolist()}
        assert np.asarray(data["det-sum"]).dtype.kind == sums[seq].dtype.kind == "i"


def test_ophyd_async_detector_in_a_motor_scan_keeps_the_motor_values(
    RE, callback, db_path, tmp_path
):
    docs = Captured()
    motor = SynAxis(name="motor")
    plan = bp.scan([blob_in(tmp_path)], motor, -1, 1, 3)
    (uid,) = RE(plan, [docs, callback]).run_start_uids
    assert_same(stored_frames(db_path, uid, "det"),
                hdf5_expected(docs, tmp_path / "det.h5", "det", "/entry/data/data"))
    rows = stored_events(db_path, uid)
    assert [(u, d) for u, _, d, _ in rows] == [(e["uid"], 0) for e in docs.events()]
    assert [data["motor"] for *_, data in rows] == [-1.0, 0.0, 1.0]
    assert all(set(data) == {"motor", "motor_setpoint", "det-sum"} for *_, data in rows)


def test_ophyd_async_step_scan_with_each_event_before_its_stream_datums(
    RE, callback, db_path, tmp_path
):
    det = blob_detector(tmp_path)
    docs = capture(RE, bp.count([det], num=3))
    reordered: list[tuple[str, dict[str, Any]]] = []
    held: list[tuple[str, dict[str, Any]]] = []
    for name, doc in docs:
        if name == "stream_datum":
            held.append((name, doc))
        elif name == "event":
            reordered += [(name, doc), *held]
            held = []
        else:
            reordered.append((name, doc))
    assert [n for n, _ in reordered[4:7]] == ["event", "stream_datum", "stream_datum"]
    for name, doc in reordered:
        callback(name, doc)
    callback.flush()
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert_same(stored_frames(db_path, uid, "det"),
                hdf5_expected(docs, tmp_path / "det.h5", "det", "/entry/data/data"))
    rows = stored_events(db_path, uid)
    assert [(u, s, d) for u, s, d, _ in rows] == [(e["uid"], e["seq_num"], 0)
                                                  for e in docs.events()]
    assert all("det-sum" in data for *_, data in rows)


@pytest.mark.parametrize("collections_per_event", [1, 2])
def test_ophyd_async_fly_scan_frames_get_derived_event_rows(
    RE, callback, db_path, tmp_path, collections_per_event
):
    det = blob_in(tmp_path / "det")
    docs = Captured()
    plan = fly_plan(det, events=5, collections_per_event=collections_per_event)
    (uid,) = RE(plan, [docs, callback]).run_start_uids
    assert docs.events() == []
    h5 = tmp_path / "det" / "det.h5"
    frames = hdf5_expected(docs, h5, "det", "/entry/data/data")
    sums = hdf5_expected(docs, h5, "det-sum", "/entry/sum")
    shutil.rmtree(tmp_path / "det")
    assert {f.shape for f in frames.values()} == {(collections_per_event, 240, 320)}
    assert_same(stored_frames(db_path, uid, "det"), frames)
    rows = stored_events(db_path, uid)
    assert [(s, d) for _, s, d, _ in rows] == [(s, 1) for s in range(1, 6)]
    for _, seq, _, data in rows:
        assert data == {"det-sum": sums[seq].tolist()}
    assert sql(db_path, "SELECT count(*) FROM external_documents WHERE name = 'stream_datum'") == [
        (len(docs.of("stream_datum")),)]
    assert exit_status(db_path, uid) == "success"


# --------------------------------------------------------------------------- moved, late, missing


@pytest.mark.parametrize("device", ["ophyd.sim", "ophyd-async"])
def test_files_moved_after_the_run_are_found_through_root_map(RE, db_path, tmp_path, device):
    old, new = tmp_path / "old", tmp_path / "new"
    if device == "ophyd.sim":
        img = img_in(old)
        docs, field = capture(RE, bp.count([img], num=3)), "img"
        expected = npy_expected(docs)
    else:
        docs, field = capture(RE, fly_plan(blob_in(old), 3, 1)), "det"
        expected = hdf5_expected(docs, old / "det.h5", "det", "/entry/data/data")
    shutil.move(old, new)
    with RunWriterCallback(db_path, root_map={str(old): str(new)}, allowed_roots=[]) as cb:
        feed(cb, docs)
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert_same(stored_frames(db_path, uid, field), expected)
    assert unresolved(db_path) == []


def test_relative_resource_root_resolves_against_base_dir(RE, db_path, tmp_path):
    img = img_in(tmp_path / "d")
    docs = capture(RE, bp.count([img], num=2))
    expected = npy_expected(docs)
    for resource in docs.of("resource"):
        resource["root"] = "d"
    with RunWriterCallback(db_path, base_dir=tmp_path) as cb:
        feed(cb, docs)
    assert_same(stored_frames(db_path, docs.of("start")[0]["uid"], "img"), expected)


def test_files_written_after_their_events_are_read_at_stop(RE, db_path, tmp_path):
    img = img_in(tmp_path / "d")
    docs = capture(RE, bp.count([img], num=3))
    expected = npy_expected(docs)
    shutil.move(tmp_path / "d", tmp_path / "later")
    with RunWriterCallback(db_path, external_timeout=10) as cb:
        for name, doc in docs[:-1]:
            cb(name, doc)
        cb.flush()
        (uid,) = [d["uid"] for d in docs.of("start")]
        assert stored_frames(db_path, uid, "img") == {}  # pending, not given up
        threading.Timer(0.3, shutil.move, (tmp_path / "later", tmp_path / "d")).start()
        t0 = time.monotonic()
        cb("stop", docs[-1][1])
        assert time.monotonic() - t0 < 5
    assert_same(stored_frames(db_path, uid, "img"), expected)
    assert unresolved(db_path) == []


def test_missing_file_leaves_the_run_stored_with_the_frame_unresolved(RE, db_path, tmp_path):
    img = img_in(tmp_path)
    docs = capture(RE, bp.count([img], num=3))
    expected = npy_expected(docs)
    (resource,) = docs.of("resource")
    gone = Path(resource["root"]) / f"{resource['resource_path']}_1.npy"
    gone.unlink()
    with RunWriterCallback(db_path, external_timeout=0.2) as cb:
        feed(cb, docs)
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert exit_status(db_path, uid) == "success"
    assert len(stored_events(db_path, uid)) == 3
    del expected[2]
    assert_same(stored_frames(db_path, uid, "img"), expected)
    [(field, seq, reference, reason)] = unresolved(db_path)
    assert (field, seq, reference) == ("img", 2, f"{resource['uid']}/1")
    assert str(gone) in reason and "FileNotFoundError" in reason
    result = CliRunner().invoke(main, ["check", str(db_path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["problems"] == ["1 unresolved detector frame(s)"]
    [listed] = report["unresolved_frames"]
    assert listed | {"reason": None} == {"run_uid": uid, "stream": "primary", "field": "img",
                                         "seq_num": 2, "reference": f"{resource['uid']}/1",
                                         "reason": None}
    assert report["bad_image_refs"] == [] and report["image_refs_checked"] == 2
    assert f"primary/img seq_num 2 ({resource['uid']}/1)" in CliRunner().invoke(
        main, ["check", str(db_path)]).output


def test_stop_waits_once_for_all_missing_files_not_once_per_frame(RE, db_path, tmp_path):
    det = blob_in(tmp_path / "det")
    docs = capture(RE, fly_plan(det, 6, 1))
    shutil.rmtree(tmp_path / "det")
    with RunWriterCallback(db_path, external_timeout=0.5) as cb:
        for name, doc in docs[:-1]:
            cb(name, doc)
        cb.flush()
        t0 = time.monotonic()
        cb("stop", docs[-1][1])
        waited = time.monotonic() - t0
    assert 0.5 <= waited < 2.5  # 12 missing stream_datums, one shared deadline
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert exit_status(db_path, uid) == "success"
    assert [(f, s) for f, s, _, _ in unresolved(db_path)] == [
        (key, seq) for seq in range(1, 7) for key in ("det", "det-sum")]
    assert all("det.h5" in reason for *_, reason in unresolved(db_path))
    assert [(s, d) for _, s, d, _ in stored_events(db_path, uid)] == [(s, 1) for s in range(1, 7)]


# --------------------------------------------------------------------------- hostile references


def test_resource_outside_the_allowed_roots_is_refused_and_not_opened(RE, db_path, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    img = img_in(secret)
    docs = capture(RE, bp.count([img], num=2))  # real, readable files in secret/
    (data_dir := tmp_path / "data").mkdir()
    with RunWriterCallback(db_path, allowed_roots=[data_dir], base_dir=data_dir) as cb:
        feed(cb, docs)
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert exit_status(db_path, uid) == "success"
    assert stored_frames(db_path, uid, "img") == {}
    [(name, reason)] = sql(db_path, "SELECT name, reason FROM rejected_documents")
    assert name == "resource" and "outside the allowed roots" in reason
    rows = unresolved(db_path)
    assert [(f, s) for f, s, _, _ in rows] == [("img", 1), ("img", 2)]
    assert all("was refused" in reason and "outside the allowed roots" in reason
               for *_, reason in rows)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda r, tmp: r.update(resource_path="../../../etc/passwd"), "'..' component"),
        (lambda r, tmp: r.update(root=f"{tmp}/../..", resource_path="x"), "'..' component"),
        (lambda r, tmp: r.update(root=str(tmp), resource_path="/../etc/passwd"),
         "'..' component"),
        (lambda r, tmp: r.update(spec="NO_SUCH_SPEC"), "no handler for spec"),
    ],
    ids=["dotdot-path", "dotdot-root", "dotdot-under-root", "unknown-spec"],
)
def test_hostile_resource_is_refused_recorded_and_the_run_stored(
    RE, callback, db_path, tmp_path, tamper, reason
):
    img = img_in(tmp_path)
    docs = capture(RE, bp.count([img], num=2))
    tamper(docs.of("resource")[0], tmp_path)
    feed(callback, docs)
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert exit_status(db_path, uid) == "success"
    assert len(stored_events(db_path, uid)) == 2
    assert sql(db_path, "SELECT count(*) FROM image_refs") == [(0,)]
    [(name, why)] = sql(db_path, "SELECT name, reason FROM rejected_documents")
    assert name == "resource" and reason in why
    assert len(unresolved(db_path)) == 2


@pytest.mark.parametrize("uri", ["http://example.org/det.h5",
                                 "file://beamline-nas.example.org/data/det.h5",
                                 "file://localhost/data/../etc/det.h5"])
def test_hostile_stream_resource_uri_is_refused_and_the_fly_scan_stored(
    RE, callback, db_path, tmp_path, uri
):
    docs = capture(RE, fly_plan(blob_detector(tmp_path), 3, 1))
    for sres in docs.of("stream_resource"):
        sres["uri"] = uri
    feed(callback, docs)
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert exit_status(db_path, uid) == "success"
    assert sql(db_path, "SELECT count(*) FROM image_refs") == [(0,)]
    rejected = sql(db_path, "SELECT name FROM rejected_documents")
    assert rejected == [("stream_resource",), ("stream_resource",)]
    rows = unresolved(db_path)
    assert len(rows) == 6 and all("was refused" in reason for *_, reason in rows)
    assert {ref.rsplit("[", 1)[1] for _, _, ref, _ in rows} == {"0]", "1]", "2]"}


# --------------------------------------------------------------------------- area-detector files


def ad_run(spec: str, root: Path, resource_path: str, points: int, shape, **resource_kwargs):
    """The documents an ophyd (v1) area detector with a file plugin emits for ``points``."""
    bundle = event_model.compose_run(metadata={"plan_name": "count"})
    key = {"dtype": "array", "shape": list(shape), "source": "PV:cam", "external": "FILESTORE:"}
    desc = bundle.compose_descriptor(data_keys={"cam_image": key}, name="primary")
    resource = bundle.compose_resource(spec=spec, root=str(root), resource_path=resource_path,
                                       resource_kwargs=resource_kwargs)
    docs = Captured([("start", bundle.start_doc), ("descriptor", desc.descriptor_doc),
                     ("resource", resource.resource_doc)])
    for point in range(points):
        datum = resource.compose_datum(datum_kwargs={"point_number": point})
        docs.append(("datum", datum))
        docs.append(("event", desc.compose_event(
            data={"cam_image": datum["datum_id"]}, timestamps={"cam_image": float(point)},
            filled={"cam_image": False}, seq_num=point + 1)))
    docs.append(("stop", bundle.compose_stop()))
    return docs


@pytest.mark.parametrize("frame_per_point", [1, 2])
def test_ad_hdf5_frames_are_copied_per_point(callback, db_path, tmp_path, frame_per_point):
    frames = ad_frames(4 * frame_per_point)
    write_ad_hdf5(tmp_path / "cam_000.h5", frames)
    docs = ad_run("AD_HDF5", tmp_path, "cam_000.h5", 4, (8, 9), frame_per_point=frame_per_point)
    feed(callback, docs)
    (tmp_path / "cam_000.h5").unlink()
    # frame_per_point frames per event, [1, 8, 9] for one: as TiledWriter reads the resource
    blocks = frames.reshape(4, frame_per_point, 8, 9)
    expected = {p + 1: blocks[p] for p in range(4)}
    assert_same(stored_frames(db_path, docs.of("start")[0]["uid"], "cam_image"), expected)
    stamps = sql(db_path, "SELECT timestamp FROM image_refs ORDER BY frame_index")
    assert stamps == [(0.0,), (1.0,), (2.0,), (3.0,)]


def test_ad_tiff_frames_are_copied_per_point(callback, db_path, tmp_path):
    frames = ad_frames(3, shape=(5, 7))
    template = write_ad_tiffs(tmp_path, "cam", frames)
    docs = ad_run("AD_TIFF", tmp_path, "", 3, (5, 7), template=template, filename="cam",
                  frame_per_point=1)
    feed(callback, docs)
    expected = {p + 1: frames[p:p + 1] for p in range(3)}  # frame_per_point=1: [1, 5, 7]
    assert_same(stored_frames(db_path, docs.of("start")[0]["uid"], "cam_image"), expected)


def test_event_filled_upstream_stores_its_array_as_a_frame(callback, db_path, tmp_path):
    docs = ad_run("AD_HDF5", tmp_path, "never-read.h5", 2, (8, 9))
    frames = ad_frames(2)
    for event, frame in zip(docs.of("event"), frames, strict=True):
        event["data"]["cam_image"] = frame
        event["filled"]["cam_image"] = True
    feed(callback, [(n, d) for n, d in docs if n != "datum"])
    uid = docs.of("start")[0]["uid"]
    assert_same(stored_frames(db_path, uid, "cam_image"), {1: frames[0], 2: frames[1]})
    assert unresolved(db_path) == []


def test_pending_frames_of_a_run_left_open_are_recorded_at_close(db_path, tmp_path):
    docs = ad_run("AD_HDF5", tmp_path, "not-yet.h5", 2, (8, 9))
    with RunWriterCallback(db_path, external_timeout=0.1) as cb:
        for name, doc in docs[:-1]:  # no stop: the session ends with the run open
            cb(name, doc)
    assert sql(db_path, "SELECT exit_status FROM runs") == [(None,)]
    assert [(f, s) for f, s, _, _ in unresolved(db_path)] == [("cam_image", 1), ("cam_image", 2)]


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda d: d.update(descriptor="nope"), "descriptor nope is unknown"),
        (lambda d: d.update(seq_nums={"start": 1, "stop": 5}), "do not describe the same events"),
        (lambda d: d.update(indices={"start": "0", "stop": 1}), "is not a range"),
    ],
    ids=["unknown-descriptor", "unequal-ranges", "not-a-range"],
)
def test_malformed_stream_datum_is_rejected_and_the_rest_stored(
    RE, callback, db_path, tmp_path, tamper, reason
):
    docs = capture(RE, bp.count([blob_in(tmp_path)], num=3))
    expected = hdf5_expected(docs, tmp_path / "det.h5", "det", "/entry/data/data")
    bad = docs.of("stream_datum")[0]  # the frame of seq_num 1
    assert bad["stream_resource"] == docs.of("stream_resource")[0]["uid"]
    tamper(bad)
    feed(callback, docs)
    [(name, why)] = sql(db_path, "SELECT name, reason FROM rejected_documents")
    assert name == "stream_datum" and reason in why
    uid = docs.of("start")[0]["uid"]
    del expected[1]
    assert_same(stored_frames(db_path, uid, "det"), expected)
    assert [s for _, s, _, _ in stored_events(db_path, uid)] == [1, 2, 3]
    assert exit_status(db_path, uid) == "success"
