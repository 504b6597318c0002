"""Detector-file reads are bounded: index ranges, bytes, and files cut short (issue 13, part B).

Real devices write the files (ophyd.sim ``img``, ophyd-async SimBlobDetector),
then a document or a file is made hostile; the documents go to the callback as
the RunEngine sends them and through ``replay`` of the saved stream. Each case
finishes within seconds, records what was wrong, and stores the rest of the run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from resonance_callback import RunWriterCallback
from resonance_callback.errors import UnsafePathError
from resonance_callback.external import MAX_FRAME_INDEX, MAX_STREAM_EVENTS, ExternalResolver

from ..conftest import sql
from .test_confinement import DATASET, assert_refused, blob_run, img_run, store_both_ways
from .test_detector_files import (
    ad_run,
    assert_same,
    exit_status,
    feed,
    stored_frames,
    unresolved,
)
from .test_external import stream_datum_doc, stream_resource_doc, write_ad_tiffs

# --------------------------------------------------------------------------- index ranges


@pytest.mark.parametrize(
    ("indices", "seq_nums", "reason"),
    [
        ((-5, -4), (1, 2), "negative, reversed or beyond"),
        ((3, 1), (1, -1), "negative, reversed or beyond"),
        ((0, 10**12), (1, 10**12 + 1), f"beyond the largest index {MAX_FRAME_INDEX}"),
        ((0, MAX_STREAM_EVENTS + 1), (1, MAX_STREAM_EVENTS + 2),
         f"more than the {MAX_STREAM_EVENTS} one stream_datum may cover"),
    ],
    ids=["negative", "reversed", "huge-range", "too-many-events"],
)
def test_stream_datum_range_out_of_bounds_is_rejected_at_once(
    RE, tmp_path, indices, seq_nums, reason
):
    docs, expected, _ = blob_run(RE, tmp_path)
    bad = docs.of("stream_datum")[0]  # the det frame of seq_num 1
    bad["indices"] = dict(zip(("start", "stop"), indices, strict=True))
    bad["seq_nums"] = dict(zip(("start", "stop"), seq_nums, strict=True))
    uid = docs.of("start")[0]["uid"]
    del expected[1]
    began = time.monotonic()
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        [(name, why)] = sql(db, "SELECT name, reason FROM rejected_documents")
        assert name == "stream_datum" and reason in why
        assert_same(stored_frames(db, uid, "det"), expected)
        assert sql(db, "SELECT count(*) FROM events") == [(3,)]
        assert exit_status(db, uid) == "success"
    assert time.monotonic() - began < 10


def test_stream_datum_beyond_the_file_is_unresolved_per_frame(RE, tmp_path):
    docs, expected, h5 = blob_run(RE, tmp_path)
    bad = docs.of("stream_datum")[0]
    bad["indices"] = {"start": 100, "stop": 101}
    uid = docs.of("start")[0]["uid"]
    del expected[1]
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert_refused(db, "det", [1], str(h5), "holds 3 frames")
        assert_same(stored_frames(db, uid, "det"), expected)


@pytest.mark.parametrize(
    ("index", "reason"),
    [(-1, "is not a non-negative integer"), (2**40, "beyond the largest index"),
     ("1", "is not a non-negative integer")],
    ids=["negative", "huge", "string"],
)
def test_datum_index_out_of_bounds_is_unresolved(RE, tmp_path, index, reason):
    docs, expected, _ = img_run(RE, tmp_path)
    docs.of("datum")[1]["datum_kwargs"]["index"] = index
    uid = docs.of("start")[0]["uid"]
    del expected[2]
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert_refused(db, "img", [2], f"index={index!r}", reason)
        assert_same(stored_frames(db, uid, "img"), expected)


def test_frame_per_point_beyond_its_bound_refuses_the_resource_at_once(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with h5py.File(data / "cam.h5", "w") as f:
        f.create_dataset(DATASET, data=np.ones((2, 8, 9), np.uint16))
    docs = ad_run("AD_HDF5", data, "cam.h5", 2, (8, 9), frame_per_point=2**40)
    for db in store_both_ways(docs, tmp_path, [data]):
        assert_refused(db, "cam_image", [1, 2], "frame_per_point=1099511627776",
                       "not an integer from 1 to 1000000")
        [(name,)] = sql(db, "SELECT name FROM rejected_documents")
        assert name == "resource"


def test_point_reaching_beyond_the_largest_index_is_unresolved(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with h5py.File(data / "cam.h5", "w") as f:
        f.create_dataset(DATASET, data=np.ones((2, 8, 9), np.uint16))
    docs = ad_run("AD_HDF5", data, "cam.h5", 2, (8, 9), frame_per_point=1_000_000)
    docs.of("datum")[1]["datum_kwargs"]["point_number"] = 5000
    for db in store_both_ways(docs, tmp_path, [data]):
        assert_refused(db, "cam_image", [1, 2])
        [(_, _, _, first), (_, _, _, second)] = unresolved(db)
        assert "holds 2 frames" in first and "beyond the largest index" in second


# --------------------------------------------------------------------------- files cut short


def cut_short(path: Path, keep: float = 0.5) -> None:
    os.truncate(path, int(path.stat().st_size * keep))


def test_truncated_hdf5_file_is_unresolved_never_stored_as_zeros(RE, tmp_path):
    docs, _, h5 = blob_run(RE, tmp_path)
    cut_short(h5)
    uid = docs.of("start")[0]["uid"]
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert_refused(db, "det", [1, 2, 3], str(h5), "is truncated")
        assert stored_frames(db, uid, "det") == {}
        assert sql(db, "SELECT count(*) FROM events") == [(3,)]


def test_truncated_npy_file_is_unresolved(RE, tmp_path):
    docs, expected, second = img_run(RE, tmp_path)
    cut_short(second, 0.8)
    uid = docs.of("start")[0]["uid"]
    del expected[2]
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert_refused(db, "img", [2], "_1.npy", "not readable")
        assert_same(stored_frames(db, uid, "img"), expected)


def test_truncated_tiff_file_is_unresolved(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    frames = np.arange(3 * 64 * 64, dtype=np.uint16).reshape(3, 64, 64) + 1
    template = write_ad_tiffs(data, "cam", frames)
    cut_short(data / "cam_000001.tiff")
    docs = ad_run("AD_TIFF", data, "", 3, (64, 64), template=template, filename="cam",
                  frame_per_point=1)
    uid = docs.of("start")[0]["uid"]
    for db in store_both_ways(docs, tmp_path, [data]):
        assert_refused(db, "cam_image", [2], str(data), "not readable")
        # frame_per_point=1 over [64, 64]: [1, 64, 64] per event, as TiledWriter reads it
        assert_same(stored_frames(db, uid, "cam_image"), {1: frames[0:1], 3: frames[2:3]})


# --------------------------------------------------------------------------- bytes


def test_sparse_10_gb_npy_file_is_refused_before_it_is_read(RE, tmp_path):
    docs, expected, second = img_run(RE, tmp_path)
    second.unlink()
    big = np.lib.format.open_memmap(second, mode="w+", dtype=np.float32, shape=(50_000, 50_000))
    del big  # a 10 GB file holding no data blocks
    uid = docs.of("start")[0]["uid"]
    del expected[2]
    began = time.monotonic()
    for db in store_both_ways(docs, tmp_path, [tmp_path / "data"]):
        assert_refused(db, "img", [2], str(second), "over the read bound of 1073741824 bytes")
        assert_same(stored_frames(db, uid, "img"), expected)
    assert time.monotonic() - began < 10


def test_10_gb_hdf5_frame_is_refused_before_it_is_read(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with h5py.File(data / "cam.h5", "w") as f:
        f.create_dataset(DATASET, shape=(2, 50_000, 50_000), dtype=np.uint32,
                         chunks=(1, 1000, 1000))
    docs = ad_run("AD_HDF5", data, "cam.h5", 2, (50_000, 50_000))
    for db in store_both_ways(docs, tmp_path, [data]):
        assert_refused(db, "cam_image", [1, 2], "cam.h5", "reading 10000000000 bytes",
                       "over the read bound")


def test_read_bound_is_configurable(RE, tmp_path, db_path):
    docs, _, _ = img_run(RE, tmp_path)  # each .npy file is 248 bytes
    with RunWriterCallback(db_path, external_max_bytes=200) as cb:
        feed(cb, docs)
    assert_refused(db_path, "img", [1, 2, 3], "over the read bound of 200 bytes")
    with pytest.raises(ValueError, match="max_read_bytes must be a positive int"):
        RunWriterCallback(tmp_path / "other.db", external_max_bytes=0)


def test_compressed_tiff_declaring_more_than_the_bound_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    frames = np.zeros((2, 64, 64), np.uint16)  # 8192 bytes each, a few dozen compressed
    template = "%s%s_%6.6d.tiff"
    for j, frame in enumerate(frames):
        tifffile.imwrite(template % (f"{data}/", "cam", j), frame, compression="zlib")
    assert (data / "cam_000000.tiff").stat().st_size < 1000
    docs = ad_run("AD_TIFF", data, "", 2, (64, 64), template=template, filename="cam",
                  frame_per_point=1)
    for db in store_both_ways(docs, tmp_path, [data], external_max_bytes=1000):
        assert_refused(db, "cam_image", [1, 2], f"TIFF {data}/cam_", "reading 8192 bytes",
                       "over the read bound of 1000 bytes")


def test_jpeg_declaring_more_than_the_bound_is_refused(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "cam_000000.jpg")
    assert (tmp_path / "cam_000000.jpg").stat().st_size < 5000  # decoded: 12288 bytes
    resolver = ExternalResolver(max_read_bytes=5000)
    resolver.add_stream_resource(stream_resource_doc(
        "j", tmp_path.as_uri(), "multipart/related;type=image/jpeg",
        template="cam_{:06d}.jpg"))
    with pytest.raises(UnsafePathError, match=r"cam_000000\.jpg: reading 12288 bytes is over"):
        resolver.read_stream_datum(stream_datum_doc("j", 0, 1), [64, 64, 3], wait=0)
