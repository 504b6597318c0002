"""Detector documents as the ecosystem writes them (issue 12): real devices, real files.

Each case stores every frame, equal pixel for pixel and in dtype to the file's, read
back after the detector files are deleted; a live session and a replay of its saved
stream give the same beamtime.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from pathlib import Path

import bluesky.plans as bp
import h5py
import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from event_model import compose_run
from ophyd import Component, Device, Signal
from ophyd.sim import SynSignalWithRegistry, new_uid
from ophyd.status import StatusBase

from resonance_callback import RunWriterCallback, replay
from resonance_callback.cli import main
from resonance_callback.external import ExternalResolver

from ..beamtime_dump import differences, dump_beamtime
from ..conftest import Captured, sql
from ..replay_corpus import save
from .rolling import rolling_detector
from .test_detector_files import assert_same, feed, stored_frames, unresolved

H, W = 6, 7
TILED = {"chunk_shape": [1], "join_method": "stack"}


def frames_of(per_event: int, dtype=np.uint16) -> Callable[[], np.ndarray]:
    """A different frame (or stack of ``per_event`` frames) at each trigger."""
    counter = itertools.count(1)
    rng = np.random.default_rng(12)

    def make() -> np.ndarray:
        n = next(counter)
        shape = (H, W) if per_event == 1 else (per_event, H, W)
        return (rng.integers(0, 1000, size=shape) * n).astype(dtype)

    return make


class ConventionSignal(SynSignalWithRegistry):
    """ophyd.sim's registry signal, its resource written to one convention.

    ``classic``: what ophyd.sim writes (``NPY_SEQ``, resource_kwargs empty) or the
    area-detector TIFF plugin's printf template and file name. ``tiled``:
    TiledWriter's parameters (``template`` appended to the resource path,
    ``chunk_shape``, ``join_method``).
    """

    def __init__(self, *args, fmt: str, convention: str, **kwargs) -> None:
        if fmt == "tiff":
            kwargs.update(save_func=tifffile.imwrite, save_spec="AD_TIFF", save_ext="tif")
        super().__init__(*args, **kwargs)
        self.fmt, self.convention = fmt, convention

    def stage(self):
        staged = super().stage()
        _, resource = self._asset_docs_cache[-1]
        ext = "tif" if self.fmt == "tiff" else "npy"
        if self.convention == "tiled":
            resource["resource_kwargs"].update(TILED, template=f"_{{:d}}.{ext}")
        elif self.fmt == "tiff":  # the AD TIFF plugin: a directory, a template, a file name
            resource["resource_kwargs"].update(template="%s%s_%d.tif",
                                               filename=resource["resource_path"])
            resource["resource_path"] = ""
        return staged


def file_frames(docs: Captured, key: str, directory: Path) -> dict[int, np.ndarray]:
    """Each event's array, read from the file the device wrote for it."""
    datums = {d["datum_id"]: d for d in docs.of("datum")}
    out = {}
    for event in docs.events():
        datum = datums[event["data"][key]]
        (path,) = directory.glob(f"*_{datum['datum_kwargs']['index']}.*")
        out[event["seq_num"]] = np.load(path) if path.suffix == ".npy" else tifffile.imread(path)
    return out


def live_and_replayed(RE, tmp_path: Path, plan) -> tuple[Captured, Path, Path]:
    """Run ``plan`` live into one beamtime, replay its saved stream into another."""
    docs = Captured()
    live = tmp_path / "live" / "beamtime.db"
    live.parent.mkdir()
    with RunWriterCallback(live) as callback:
        RE(plan, [callback, docs])
    replayed = tmp_path / "replayed" / "beamtime.db"
    replayed.parent.mkdir()
    summary = replay(save("json-seq", docs, tmp_path / "saved"), replayed)
    assert summary.ok and summary.rejected == 0
    return docs, live, replayed


# --------------------------------------------------------------------------- ophyd.sim


@pytest.mark.parametrize("per_event", [1, 5])
@pytest.mark.parametrize("convention", ["classic", "tiled"])
@pytest.mark.parametrize("fmt", ["tiff", "npy"])
def test_registry_signal_frames_are_stored_in_either_convention(
    RE, tmp_path, fmt, convention, per_event
):
    files = tmp_path / "detector"
    files.mkdir()
    img = ConventionSignal(func=frames_of(per_event), name="img", save_path=str(files),
                           fmt=fmt, convention=convention)
    docs, live, replayed = live_and_replayed(RE, tmp_path, bp.count([img], num=3))
    expected = file_frames(docs, "img", files)
    shutil.rmtree(files)
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert docs.of("descriptor")[0]["data_keys"]["img"]["shape"] == list(expected[1].shape)
    assert_same(stored_frames(live, uid, "img"), expected)
    assert unresolved(live) == []
    assert differences(dump_beamtime(replayed), dump_beamtime(live)) == {}


def test_tiff_with_tiled_parameters_before_this_was_refused_now_reads(RE, tmp_path):
    """The issue's first case, as a new user tried it: no frame was stored."""
    files = tmp_path / "detector"
    files.mkdir()
    img = ConventionSignal(func=frames_of(1, np.float32), name="img", save_path=str(files),
                           fmt="tiff", convention="tiled")
    docs = Captured()
    db = tmp_path / "beamtime.db"
    with RunWriterCallback(db) as callback:
        RE(bp.count([img], num=2), [callback, docs])
    (resource,) = docs.of("resource")
    assert resource["resource_kwargs"] == {**TILED, "template": "_{:d}.tif"}
    frames = stored_frames(db, docs.of("start")[0]["uid"], "img")
    assert [f.dtype for f in frames.values()] == [np.float32, np.float32]


# --------------------------------------------------------------------------- legacy HDF5


class LegacyHDF5Camera(Device):
    """An ophyd (v1) camera writing frames to ``{root}/dataset.h5`` as older profiles did.

    Its resource has no ``run_start`` in the documents older bluesky saved (the
    RunEngine of today adds one), spec ``AD_HDF5_SWMR_STREAM``, ``resource_path``
    ``"/dataset.h5"`` under ``root``, and its datums address frames by
    ``{"dataset": ..., "frame": i}``.
    """

    image = Component(Signal, value="", kind="normal")

    def __init__(self, *args, root: Path, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.directory = root
        self._assets: list[tuple[str, dict]] = []
        self.written: list[np.ndarray] = []

    def stage(self):
        self._resource = new_uid()
        self._frame = 0
        self._file = h5py.File(self.directory / "dataset.h5", "w", libver="latest")
        self._data = self._file.create_dataset("/entry/data/data_2", shape=(0, H, W),
                                               maxshape=(None, H, W), dtype="<i4",
                                               chunks=(1, H, W))
        self._file.swmr_mode = True
        self._assets.append(("resource", {
            "uid": self._resource, "spec": "AD_HDF5_SWMR_STREAM", "root": str(self.directory),
            "resource_path": "/dataset.h5", "path_semantics": "posix",
            "resource_kwargs": {"chunk_shape": [1, H, W]}}))
        return super().stage()

    def trigger(self):
        frame = (np.arange(H * W, dtype="<i4").reshape(H, W) - 20) * (self._frame + 3)
        self._data.resize(self._frame + 1, axis=0)
        self._data[self._frame] = frame
        self._data.flush()
        self.written.append(frame)
        datum_id = f"{self._resource}/{self._frame}"
        self._assets.append(("datum", {"resource": self._resource, "datum_id": datum_id,
                                       "datum_kwargs": {"dataset": "/entry/data/data_2",
                                                        "frame": self._frame}}))
        self.image.put(datum_id)
        self._frame += 1
        status = StatusBase()
        status.set_finished()
        return status

    def describe(self):
        described = super().describe()
        described["cam_image"].update(shape=[H, W], dtype="array", external="FILESTORE:")
        return described

    def collect_asset_docs(self):
        yield from self._assets
        self._assets.clear()

    def unstage(self):
        self._file.close()
        return super().unstage()


def legacy_camera(root: Path) -> LegacyHDF5Camera:
    root.mkdir(parents=True, exist_ok=True)
    return LegacyHDF5Camera(name="cam", root=root)


def test_legacy_hdf5_resource_without_run_start_stores_every_frame(RE, tmp_path):
    cam = legacy_camera(tmp_path / "detector")
    docs = Captured()
    RE(bp.count([cam], num=4), docs)
    for name, doc in docs:
        if name == "resource":
            del doc["run_start"]  # as older bluesky saved it
    db = tmp_path / "beamtime.db"
    with RunWriterCallback(db) as callback:
        feed(callback, docs)
    shutil.rmtree(tmp_path / "detector")
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert_same(stored_frames(db, uid, "cam_image"),
                {seq: frame for seq, frame in enumerate(cam.written, start=1)})
    assert sql(db, "SELECT name, run_uid FROM external_documents WHERE name = 'resource'") == [
        ("resource", uid)]
    assert sql(db, "SELECT count(*) FROM rejected_documents") == [(0,)]


def test_legacy_hdf5_camera_live_and_replayed_give_the_same_beamtime(RE, tmp_path):
    cam = legacy_camera(tmp_path / "detector")
    docs, live, replayed = live_and_replayed(RE, tmp_path, bp.count([cam], num=3))
    shutil.rmtree(tmp_path / "detector")
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert_same(stored_frames(live, uid, "cam_image"), dict(enumerate(cam.written, start=1)))
    assert differences(dump_beamtime(replayed), dump_beamtime(live)) == {}


def test_resource_without_run_start_with_two_runs_open_goes_to_the_run_using_it(tmp_path):
    np.save(tmp_path / "f_0.npy", np.full((3, 3), 7, dtype=np.int8))
    first, second = compose_run(), compose_run()
    key = {"dtype": "array", "shape": [3, 3], "source": "sim", "external": "FILESTORE:"}
    descriptor = second.compose_descriptor(data_keys={"img": key}, name="primary")
    resource = {"uid": "res-1", "spec": "NPY_SEQ", "root": str(tmp_path), "resource_path": "f",
                "resource_kwargs": {}, "path_semantics": "posix"}
    datum = {"datum_id": "res-1/0", "resource": "res-1", "datum_kwargs": {"index": 0}}
    event = descriptor.compose_event(data={"img": "res-1/0"}, timestamps={"img": 1.0},
                                     filled={"img": False})
    db = tmp_path / "beamtime.db"
    with RunWriterCallback(db) as callback:
        feed(callback, [("start", first.start_doc), ("start", second.start_doc),
                        ("resource", resource), ("datum", datum),
                        ("descriptor", descriptor.descriptor_doc), ("event", event),
                        ("stop", second.compose_stop()), ("stop", first.compose_stop())])
    run = second.start_doc["uid"]
    assert sql(db, "SELECT name, run_uid FROM external_documents ORDER BY ordinal") == [
        ("resource", run), ("datum", run)]
    (frame,) = stored_frames(db, run, "img").values()
    assert frame.dtype == np.int8 and frame.tolist() == [[7] * 3] * 3


# --------------------------------------------------------------------------- rollover


def test_detector_rolling_over_to_a_second_file_stores_frames_in_seq_num_order(RE, tmp_path):
    det = rolling_detector(tmp_path / "detector", per_file=4)
    docs, live, replayed = live_and_replayed(RE, tmp_path, bp.count([det], num=7))
    paths = sorted((tmp_path / "detector").glob("det_*.h5"))
    assert [p.name for p in paths] == ["det_0.h5", "det_1.h5"]
    assert len(docs.of("stream_resource")) == 2
    rows = []
    for path in paths:
        with h5py.File(path, "r") as f:
            rows.extend(f["/entry/data/data"][:])
    shutil.rmtree(tmp_path / "detector")
    (uid,) = [d["uid"] for d in docs.of("start")]
    assert_same(stored_frames(live, uid, "det"),
                {seq: row[np.newaxis] for seq, row in enumerate(rows, start=1)})
    order = sql(live, "SELECT e.seq_num FROM image_refs i JOIN events e ON e.uid = i.event_uid "
                      "WHERE i.field_name = 'det' ORDER BY i.frame_index")
    assert [seq for (seq,) in order] == list(range(1, 8))
    assert unresolved(live) == []
    assert differences(dump_beamtime(replayed), dump_beamtime(live)) == {}


def test_overlapping_stream_datum_ranges_are_recorded_in_our_words(tmp_path):
    frames = np.arange(4 * 3 * 2, dtype=np.uint8).reshape(4, 3, 2)
    for number in (0, 1):
        with h5py.File(tmp_path / f"d_{number}.h5", "w") as f:
            f["/data"] = frames[2 * number:2 * number + 2]
    run = compose_run()
    key = {"dtype": "array", "shape": [1, 3, 2], "source": "sim", "external": "STREAM:",
           "dtype_numpy": "|u1"}
    descriptor = run.compose_descriptor(data_keys={"d": key}, name="primary")
    docs = [("start", run.start_doc), ("descriptor", descriptor.descriptor_doc)]
    for number, seq_start in ((0, 1), (1, 2)):  # the second file names seq_num 2 again
        bundle = run.compose_stream_resource(mimetype="application/x-hdf5",
                                             uri=f"file://localhost{tmp_path}/d_{number}.h5",
                                             data_key="d", parameters={"dataset": "/data"})
        docs.append(("stream_resource", bundle.stream_resource_doc))
        datum = bundle.compose_stream_datum({"start": 0, "stop": 2})
        datum.update(descriptor=descriptor.descriptor_doc["uid"],
                     seq_nums={"start": seq_start, "stop": seq_start + 2})
        docs.append(("stream_datum", datum))
    docs.append(("stop", run.compose_stop()))
    db = tmp_path / "beamtime.db"
    with RunWriterCallback(db) as callback:
        feed(callback, docs)
    stored = stored_frames(db, run.start_doc["uid"], "d")
    assert_same(stored, {1: frames[0:1], 2: frames[1:2], 3: frames[3:4]})
    [(field, seq, reference, reason)] = unresolved(db)
    second = docs[4][1]["uid"]
    assert (field, seq, reference) == ("d", 2, f"{second}[0]")
    assert reason.startswith("seq_num 2 of key 'd' already has its data from ")
    assert "overlapping or contradictory stream_datum ranges" in reason
    assert "UNIQUE" not in reason


def test_a_file_of_another_dtype_than_declared_is_stored_as_it_is_and_check_reports_it(tmp_path):
    rows = np.arange(2 * 3 * 2, dtype="<i4").reshape(2, 3, 2)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["/data"] = rows
    run = compose_run()
    key = {"dtype": "array", "shape": [1, 3, 2], "source": "sim", "external": "STREAM:",
           "dtype_numpy": "<u2"}
    descriptor = run.compose_descriptor(data_keys={"d": key}, name="primary")
    bundle = run.compose_stream_resource(mimetype="application/x-hdf5",
                                         uri=f"file://localhost{tmp_path}/d.h5", data_key="d",
                                         parameters={"dataset": "/data"})
    datum = bundle.compose_stream_datum({"start": 0, "stop": 2})
    datum.update(descriptor=descriptor.descriptor_doc["uid"], seq_nums={"start": 1, "stop": 3})
    db = tmp_path / "beamtime.db"
    with RunWriterCallback(db) as callback:
        feed(callback, [("start", run.start_doc), ("descriptor", descriptor.descriptor_doc),
                        ("stream_resource", bundle.stream_resource_doc),
                        ("stream_datum", datum), ("stop", run.compose_stop())])
    assert_same(stored_frames(db, run.start_doc["uid"], "d"), {1: rows[0:1], 2: rows[1:2]})
    result = CliRunner().invoke(main, ["check", str(db)])
    assert result.exit_code == 1
    assert "primary/d" in result.output and "declared <u2, stored <i4" in result.output
    shown = CliRunner().invoke(main, ["show", str(db), "-1"])
    assert "int32" in shown.output and "<u2" in shown.output


def test_tiff_stream_resource_whose_uri_is_a_file_stem_reads_files_beside_it(tmp_path):
    frames = np.arange(2 * H * W, dtype=np.uint16).reshape(2, H, W)
    for index, frame in enumerate(frames):
        tifffile.imwrite(tmp_path / f"scan7_{index}.tif", frame)
    resolver = ExternalResolver()
    resolver.add_stream_resource({
        "uid": "s", "data_key": "img", "mimetype": "multipart/related;type=image/tiff",
        "uri": f"file://localhost{tmp_path}/scan7",
        "parameters": {"template": "_{:d}.tif", "chunk_shape": [1], "join_method": "stack"}})
    got = resolver.read_stream_datum(
        {"uid": "s/0", "stream_resource": "s", "descriptor": "d",
         "indices": {"start": 0, "stop": 2}, "seq_nums": {"start": 1, "stop": 3}},
        [H, W], wait=0)
    assert got.array.dtype == np.uint16
    np.testing.assert_array_equal(got.array, frames)
