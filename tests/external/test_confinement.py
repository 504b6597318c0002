"""Detector files outside the allowed roots are never read (issue 13, part B).

Real devices write real files (ophyd.sim ``img`` as NPY_SEQ, ophyd-async's
SimBlobDetector as HDF5); the files are then turned hostile the way the issue
found them (a symlink out of the root, an HDF5 external link or virtual dataset,
a FIFO) and the documents are fed to the callback as the RunEngine feeds it, and
replayed from a saved stream. Each case checks that the refusal is recorded per
frame naming the path and the rule, that the outside content never reaches the
store, and that the rest of the run is stored.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import bluesky.plans as bp
import event_model
import h5py
import numpy as np
import pytest
import zarr

from resonance_callback import RunWriterCallback, replay
from resonance_callback.errors import UnsafePathError
from resonance_callback.external import ExternalResolver

from ..conftest import Captured, sql
from .test_detector_files import (
    ad_run,
    assert_same,
    blob_in,
    capture,
    exit_status,
    feed,
    hdf5_expected,
    img_in,
    npy_expected,
    stored_frames,
    unresolved,
)
from .test_external import fly_plan, stream_datum_doc, stream_resource_doc, write_ad_tiffs

SECRET = -31337  # the value of every pixel outside the roots
DATASET = "/entry/data/data"


# --------------------------------------------------------------------------- helpers


def save_stream(docs: Captured, path: Path) -> Path:
    """Save the documents as suitcase-jsonl does: one ``[name, doc]`` per line."""
    with path.open("w") as f:
        for name, doc in docs:
            f.write(json.dumps([name, doc], cls=event_model.NumpyEncoder) + "\n")
    return path


def store_both_ways(docs: Captured, tmp_path: Path, roots: list[Path], **options) -> list[Path]:
    """Feed the documents live (default roots) and replay them (``allowed_roots=roots``)."""
    live = tmp_path / "live.db"
    with RunWriterCallback(live, external_timeout=0.3, **options) as cb:
        feed(cb, docs)
    replayed = tmp_path / "replayed.db"
    (tmp_path / "saved").mkdir()  # replay trusts the saved file's directory (base_dir) too
    replay(save_stream(docs, tmp_path / "saved" / "run.jsonl"), replayed, allowed_roots=roots,
           external_timeout=0.3, **options)
    return [live, replayed]


def secret_stored(db_path: Path) -> bool:
    """True if any stored frame or event value holds the outside file's value."""
    group = zarr.open_group(db_path.with_suffix(".zarr"), mode="r")

    def walk(node) -> bool:
        for _, child in node.members():
            if isinstance(child, zarr.Array):
                if np.dtype(child.dtype).kind in "if" and np.any(child[...] == SECRET):
                    return True
            elif walk(child):
                return True
        return False

    texts = sql(db_path, "SELECT data FROM events")
    return walk(group) or any(str(SECRET) in text for (text,) in texts)


def outside_npy(tmp_path: Path, shape=(6, 5), dtype=np.int32) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    path = outside / "secret.npy"
    np.save(path, np.full(shape, SECRET, dtype))
    return path


def outside_h5(tmp_path: Path, like: h5py.Dataset) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    path = outside / "secret.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.full(like.shape, 0xA5, like.dtype))
    return path


def img_run(RE, tmp_path: Path) -> tuple[Captured, dict[int, np.ndarray], Path]:
    """An ophyd.sim ``img`` count of 3 in ``tmp_path/data``: docs, frames by seq_num, file 2."""
    docs = capture(RE, bp.count([img_in(tmp_path / "data", dtype=np.int32)], num=3))
    expected = npy_expected(docs)
    resource = docs.of("resource")[0]
    second = Path(resource["root"]) / f"{resource['resource_path']}_1.npy"
    return docs, expected, second


def blob_run(RE, tmp_path: Path) -> tuple[Captured, dict[int, np.ndarray], Path]:
    """A SimBlobDetector count of 3 writing ``tmp_path/data/det.h5``; docs, det frames, file."""
    docs = capture(RE, bp.count([blob_in(tmp_path / "data")], num=3))
    h5 = tmp_path / "data" / "det.h5"
    return docs, hdf5_expected(docs, h5, "det", DATASET), h5


def assert_refused(db_path: Path, field: str, seqs: list[int], *words: str) -> None:
    rows = [(f, s, reason) for f, s, _, reason in unresolved(db_path) if f == field]
    assert [s for _, s, _ in rows] == seqs, rows
    for _, _, reason in rows:
        for word in words:
            assert word in reason, (word, reason)


@pytest.fixture
def unblock_fifos():
    """Open each FIFO for writing after 10 s, so a reader that blocked on it ends (and fails)."""
    fifos: list[Path] = []
    stop = threading.Event()

    def watchdog() -> None:
        if stop.wait(10):
            return
        for fifo in fifos:
            os.close(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    yield fifos
    stop.set()
    thread.join()


# --------------------------------------------------------------------------- symlinks


def test_npy_seq_symlink_out_of_its_root_is_refused_per_frame(RE, tmp_path):
    docs, expected, second = img_run(RE, tmp_path)
    second.unlink()
    second.symlink_to(outside_npy(tmp_path))
    uid = docs.of("start")[0]["uid"]
    del expected[2]
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert_refused(db, "img", [2], str(second), "outside the allowed roots",
                       "symlinks are resolved")
        assert_same(stored_frames(db, uid, "img"), expected)
        assert not secret_stored(db)
        assert exit_status(db, uid) == "success"


def test_symlink_staying_inside_the_root_is_read(RE, tmp_path):
    docs, expected, second = img_run(RE, tmp_path)
    moved = second.with_name("elsewhere.npy")
    second.rename(moved)
    second.symlink_to(moved)
    uid = docs.of("start")[0]["uid"]
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert unresolved(db) == []
        assert_same(stored_frames(db, uid, "img"), expected)


def test_tiff_named_by_a_template_symlinked_out_of_its_root_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    frames = np.arange(3 * 5 * 7, dtype=np.int32).reshape(3, 5, 7)
    template = write_ad_tiffs(data, "cam", frames)
    victim = data / "cam_000001.tiff"
    victim.unlink()
    secret = tmp_path / "outside" / "secret.tiff"
    secret.parent.mkdir()
    write_ad_tiffs(secret.parent, "secret", np.full((1, 5, 7), SECRET, np.int32))
    victim.symlink_to(secret.parent / "secret_000000.tiff")
    docs = ad_run("AD_TIFF", data, "", 3, (5, 7), template=template, filename="cam",
                  frame_per_point=1)
    uid = docs.of("start")[0]["uid"]
    for db in store_both_ways(docs, tmp_path, [data]):
        assert_refused(db, "cam_image", [2], str(victim), "outside the allowed roots")
        # frame_per_point=1 over a declared [5, 7]: [1, 5, 7] per event, as TiledWriter reads it
        assert_same(stored_frames(db, uid, "cam_image"), {1: frames[0:1], 3: frames[2:3]})
        assert not secret_stored(db)


# --------------------------------------------------------------------------- HDF5 links


def replace_with(h5: Path, name: str, make) -> None:
    """Replace dataset ``name`` of ``h5`` by what ``make(file, name)`` puts there."""
    with h5py.File(h5, "a") as f:
        del f[name]
        make(f, name)


@pytest.mark.parametrize(
    "kind", ["external-link", "virtual-dataset", "soft-to-external", "external-storage"]
)
def test_hdf5_dataset_reading_another_file_is_refused(RE, tmp_path, kind):
    docs, _, h5 = blob_run(RE, tmp_path)
    with h5py.File(h5, "r") as f:
        secret = outside_h5(tmp_path, f[DATASET])
    sums = hdf5_expected(docs, h5, "det-sum", "/entry/sum")

    def external(f, name):
        f[name] = h5py.ExternalLink(str(secret), "/data")

    def virtual(f, name):
        with h5py.File(secret, "r") as s:
            layout = h5py.VirtualLayout(shape=s["data"].shape, dtype=s["data"].dtype)
            layout[...] = h5py.VirtualSource(str(secret), "data", shape=s["data"].shape)
        f.create_virtual_dataset(name, layout)

    def soft(f, name):
        f["/entry/hidden"] = h5py.ExternalLink(str(secret), "/data")
        f[name] = h5py.SoftLink("/entry/hidden")

    def raw(f, name):
        with h5py.File(secret, "r") as s:
            frames = s["data"][...]
        raw_file = secret.with_suffix(".raw")
        raw_file.write_bytes(frames.tobytes())
        f.create_dataset(name, shape=frames.shape, dtype=frames.dtype,
                         external=[(str(raw_file), 0, frames.nbytes)])

    replace_with(h5, DATASET, {"external-link": external, "virtual-dataset": virtual,
                               "soft-to-external": soft, "external-storage": raw}[kind])
    rule = {"virtual-dataset": "virtual dataset",
            "external-storage": "keeps its data in external files"}.get(kind, "external link")
    uid = docs.of("start")[0]["uid"]
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert_refused(db, "det", [1, 2, 3], str(h5), rule, "refused")
        assert stored_frames(db, uid, "det") == {}  # nothing of the outside file
        stored_sums = {seq: data["det-sum"] for seq, data in sql_event_data(db, uid)}
        assert stored_sums == {seq: value.tolist() for seq, value in sums.items()}


def sql_event_data(db: Path, uid: str) -> list[tuple[int, dict]]:
    from resonance_callback import jsoncodec

    rows = sql(db, "SELECT e.seq_num, e.data FROM events e JOIN streams s ON s.uid = "
                   "e.stream_uid WHERE s.run_uid = ? ORDER BY e.seq_num", (uid,))
    return [(seq, jsoncodec.loads(data)) for seq, data in rows]


# --------------------------------------------------------------------------- special files


def test_npy_seq_fifo_is_refused_before_it_is_opened(RE, tmp_path, unblock_fifos):
    docs, expected, second = img_run(RE, tmp_path)
    second.unlink()
    os.mkfifo(second)
    unblock_fifos.append(second)
    uid = docs.of("start")[0]["uid"]
    del expected[2]
    began = time.monotonic()
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert_refused(db, "img", [2], str(second), "is a FIFO, not a regular file")
        assert_same(stored_frames(db, uid, "img"), expected)
    assert time.monotonic() - began < 8


def test_hdf5_fifo_is_refused_before_it_is_opened(RE, tmp_path, unblock_fifos):
    docs, _, h5 = blob_run(RE, tmp_path)
    h5.unlink()
    os.mkfifo(h5)
    unblock_fifos.append(h5)
    uid = docs.of("start")[0]["uid"]
    began = time.monotonic()
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert_refused(db, "det", [1, 2, 3], str(h5), "is a FIFO")
        assert [seq for seq, _ in sql_event_data(db, uid)] == [1, 2, 3]
        assert exit_status(db, uid) == "success"
    assert time.monotonic() - began < 8


def test_directory_in_place_of_a_file_is_refused(RE, tmp_path):
    docs, expected, second = img_run(RE, tmp_path)
    second.unlink()
    second.mkdir()
    uid = docs.of("start")[0]["uid"]
    del expected[2]
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert_refused(db, "img", [2], str(second), "is a directory, not a regular file")
        assert_same(stored_frames(db, uid, "img"), expected)


def test_tiff_sequence_file_symlinked_out_of_its_uri_directory_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_ad_tiffs(data, "cam", np.ones((2, 5, 7), np.uint16))
    outside = tmp_path / "outside"
    outside.mkdir()
    write_ad_tiffs(outside, "secret", np.full((1, 5, 7), 7, np.uint16))
    (data / "cam_000001.tiff").unlink()
    (data / "cam_000001.tiff").symlink_to(outside / "secret_000000.tiff")
    resolver = ExternalResolver()
    resolver.add_stream_resource(stream_resource_doc(
        "t", data.as_uri(), "multipart/related;type=image/tiff",
        template="cam_{:06d}.tiff"))
    np.testing.assert_array_equal(
        resolver.read_stream_datum(stream_datum_doc("t", 0, 1), [5, 7], wait=0).array,
        np.ones((1, 5, 7), np.uint16))
    with pytest.raises(UnsafePathError, match="cam_000001.tiff.*outside the allowed roots"):
        resolver.read_stream_datum(stream_datum_doc("t", 1, 2), [5, 7], wait=0)


def test_fly_scan_hdf5_file_symlinked_out_of_its_directory_is_refused(RE, tmp_path):
    det = blob_in(tmp_path / "data")
    docs = capture(RE, fly_plan(det, events=4, collections_per_event=1))
    h5 = tmp_path / "data" / "det.h5"
    outside = tmp_path / "outside"
    outside.mkdir()
    h5.rename(outside / "det.h5")
    h5.symlink_to(outside / "det.h5")
    uid = docs.of("start")[0]["uid"]
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert_refused(db, "det", [1, 2, 3, 4], str(h5), "outside the allowed roots")
        assert_refused(db, "det-sum", [1, 2, 3, 4], str(h5), "outside the allowed roots")
        assert stored_frames(db, uid, "det") == {}
        assert [seq for seq, _ in sql_event_data(db, uid)] == [1, 2, 3, 4]  # derived rows
        assert exit_status(db, uid) == "success"


def test_character_device_and_socket_are_refused_before_they_are_opened(tmp_path):
    import socket

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(tmp_path / "cam.h5"))
    try:
        resolver = ExternalResolver(allowed_roots=["/dev", tmp_path])
        for uid, root, name in [("dev", "/dev", "zero"), ("sock", str(tmp_path), "cam.h5")]:
            resolver.add_resource({"uid": uid, "spec": "AD_HDF5", "root": root,
                                   "resource_path": name, "resource_kwargs": {}})
            resolver.add_datum({"resource": uid, "datum_id": f"{uid}/0",
                                "datum_kwargs": {"point_number": 0}})
        with pytest.raises(UnsafePathError, match="'/dev/zero' is a character device"):
            resolver.fill("dev/0", wait=0)
        with pytest.raises(UnsafePathError, match=r"cam\.h5' is a socket, not a regular file"):
            resolver.fill("sock/0", wait=0)
    finally:
        server.close()
