"""Hostile detector references: templates, reference parameters, byte totals, declared dtypes.

Every case is a beamtime that already holds a good area-detector run (real TIFF
files written by tifffile, documents composed with ``event_model.compose_run``),
then one session of a real :class:`RunWriterCallback` receives a run carrying one
hostile reference followed by another good run. Each case asserts that

* nothing stored earlier changes (the first run's frames read back the same);
* the hostile input is recorded with its reason (``rejected_documents`` or
  ``unresolved_frames``), at once: the session finishes well inside its
  ``external_timeout`` of 60 s, so no malformed parameter waits as a missing file;
* the callback keeps answering: the good run after it is stored whole;
* memory stays bounded: the tracemalloc peak of the session is under 100 MB
  where the code before issue 21 allocated hundreds of MB to GBs (sizes chosen
  so that code fails visibly, without endangering the machine).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import event_model
import h5py
import numpy as np
import pytest
import tifffile

from resonance_callback import RunWriterCallback, jsoncodec
from resonance_callback.replay import replay
from tests.conftest import Captured, sql
from tests.external.test_confinement import save_stream
from tests.external.test_detector_files import ad_run, assert_same, feed, stored_frames

SHAPE = (16, 16)
TEMPLATE = "%s%s_%6.6d.tiff"
PEAK_BOUND = 100 << 20
TIMEOUT = 60.0  # external_timeout: a malformed parameter must not wait for it


def frames_of(n: int, base: int) -> np.ndarray:
    return (np.arange(n * SHAPE[0] * SHAPE[1], dtype=np.uint16).reshape(n, *SHAPE) + base)


def write_tiffs(directory: Path, filename: str, frames: np.ndarray) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for j, frame in enumerate(frames):
        tifffile.imwrite(TEMPLATE % (f"{directory}/", filename, j), frame)


def good_run(directory: Path, filename: str, base: int) -> tuple[Captured, dict[int, np.ndarray]]:
    frames = frames_of(3, base)
    write_tiffs(directory, filename, frames)
    docs = ad_run("AD_TIFF", directory, "", 3, SHAPE, template=TEMPLATE, filename=filename,
                  frame_per_point=1)
    # frame_per_point=1 over [H, W]: [1, H, W] per event, as TiledWriter reads it (issue 22)
    return docs, {p + 1: frames[p:p + 1] for p in range(3)}


def tiff_run(directory: Path, points: int = 2, **resource_kwargs: Any) -> Captured:
    """An AD_TIFF run over ``cam_*.tiff`` with ``resource_kwargs`` over the good ones."""
    write_tiffs(directory, "cam", frames_of(1, 7))
    kwargs = {"template": TEMPLATE, "filename": "cam", "frame_per_point": 1, **resource_kwargs}
    return ad_run("AD_TIFF", directory, "", points, SHAPE, **kwargs)


def hdf5_run(directory: Path, **resource_kwargs: Any) -> Captured:
    directory.mkdir(parents=True, exist_ok=True)
    with h5py.File(directory / "cam.h5", "w") as f:
        f.create_dataset("/entry/data/data", data=frames_of(2, 3))
    return ad_run("AD_HDF5", directory, "cam.h5", 2, SHAPE, **resource_kwargs)


def stream_run(directory: Path, shape: list[int] | None = None, **parameters: Any) -> Captured:
    """An ophyd-async style fly scan over ``cam_{:06d}.tiff``: stream_resource, 2 stream_datums."""
    directory.mkdir(parents=True, exist_ok=True)
    for j, frame in enumerate(frames_of(2, 11)):
        tifffile.imwrite(directory / f"cam_{j:06d}.tiff", frame)
    bundle = event_model.compose_run(metadata={"plan_name": "fly"})
    key = {"dtype": "array", "shape": shape or [1, *SHAPE], "source": "sim:cam",
           "external": "STREAM:", "dtype_numpy": "<u2"}
    desc = bundle.compose_descriptor(data_keys={"cam": key}, name="primary")
    params = {"template": "cam_{:06d}.tiff", "chunk_shape": [1, *SHAPE], **parameters}
    sres = bundle.compose_stream_resource(mimetype="multipart/related;type=image/tiff",
                                          uri=directory.as_uri() + "/", data_key="cam",
                                          parameters=params, validate=False)
    docs = Captured([("start", bundle.start_doc), ("descriptor", desc.descriptor_doc),
                     ("stream_resource", sres.stream_resource_doc)])
    for i in range(2):
        docs.append(("stream_datum", sres.compose_stream_datum(
            indices={"start": i, "stop": i + 1}, seq_nums={"start": i + 1, "stop": i + 2},
            descriptor=desc.descriptor_doc, validate=False)))
    docs.append(("stop", bundle.compose_stop()))
    return docs


def dtype_run(dtype_numpy: Any, shape: list[int], value: Any) -> Captured:
    """A run whose one event holds ``x`` and an ``img`` value under a hostile declaration."""
    bundle = event_model.compose_run(metadata={"plan_name": "count"})
    keys = {"x": {"dtype": "number", "shape": [], "source": "sim:x"},
            "img": {"dtype": "array", "shape": shape, "source": "sim:img",
                    "dtype_numpy": dtype_numpy}}
    desc = bundle.compose_descriptor(data_keys=keys, name="primary", validate=False)
    event = desc.compose_event(data={"x": 4.5, "img": value}, timestamps={"x": 1.0, "img": 1.0},
                               seq_num=1, validate=False)
    return Captured([("start", bundle.start_doc), ("descriptor", desc.descriptor_doc),
                     ("event", event), ("stop", bundle.compose_stop())])


@dataclass
class Case:
    id: str
    docs: Callable[[Path], Captured]
    table: str  # where the reason is recorded: rejected_documents or unresolved_frames
    words: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False  # fed through replay (a saved stream) instead of live
    check: Callable[[Path, Captured], None] | None = None


def _event_data(db: Path, docs: Captured) -> dict[str, Any]:
    uid = docs.of("start")[0]["uid"]
    [(data,)] = sql(db, "SELECT e.data FROM events e JOIN streams s ON s.uid = e.stream_uid "
                        "WHERE s.run_uid = ?", (uid,))
    return jsoncodec.loads(data)


def _x_kept(db: Path, docs: Captured) -> None:
    """The event's scalar is stored although its hostile value is not."""
    assert _event_data(db, docs) == {"x": 4.5}


def _img_as_sent(db: Path, docs: Captured) -> None:
    """The value is stored as it came, never blown up to the declared subarrays."""
    assert _event_data(db, docs) == {"x": 4.5, "img": list(range(8))}


def _three_of_ten_read(db: Path, docs: Captured) -> None:
    uid = docs.of("start")[0]["uid"]
    assert sorted(stored_frames(db, uid, "cam_image")) == [1, 2, 3]


CASES = [
    Case("printf-field-width-300-million",
         lambda d: tiff_run(d, template="%s%s_%300000000d.tiff"), "rejected_documents",
         ("resource", "'%s%s_%300000000d.tiff'", "field width of 300000000")),
    Case("printf-star-width", lambda d: tiff_run(d, template="%s%*d.tiff"),
         "rejected_documents", ("'*'",)),
    Case("new-style-attribute-access", lambda d: stream_run(d, template="{0.__class__}.tiff"),
         "rejected_documents", ("stream_resource", "attribute or item")),
    Case("new-style-named-index-access", lambda d: stream_run(d, template="{x[0]}.tiff"),
         "rejected_documents", ("stream_resource", "attribute or item")),
    Case("name-component-over-name-max", lambda d: tiff_run(d, filename="c" * 300),
         "rejected_documents", ("longer than 255 bytes",)),
    # "%.0s" prints no index: every point names cam_.tiff, read again and again
    Case("one-file-for-every-index-stops-at-the-total",
         lambda d: _same_file_run(d), "unresolved_frames",
         ("read in total", "external_max_bytes"), options={"external_max_bytes": 3 * 600},
         check=_three_of_ten_read),
    Case("unknown-join-method", lambda d: stream_run(d, join_method="zip"),
         "rejected_documents", ("join_method 'zip'",)),
    *[Case(f"chunk-shape-{name}", lambda d, v=value: stream_run(d, chunk_shape=v),
           "rejected_documents", ("chunk_shape",))
      for name, value in [("not-a-list", 5), ("negative", [-1, 16, 16]), ("zero", [0]),
                          ("float", [1.5]), ("huge", [10**20]), ("string", "abc")]],
    Case("chunk-shape-longer-than-the-data",
         lambda d: stream_run(d, chunk_shape=[1, 1, 1, 1, 1, 1]), "unresolved_frames",
         ("more dimensions than the data",)),
    *[Case(f"frame-per-point-{name}", lambda d, v=value: hdf5_run(d, frame_per_point=v),
           "rejected_documents", ("frame_per_point",))
      for name, value in [("zero", 0), ("negative", -3), ("string", "2"), ("float", 2.5),
                          ("huge", 10**12)]],
    # 8 numbers, each turned into a 2000x2000 float64 block: 256 MB before issue 21
    Case("dtype-numpy-subarray-replayed",
         lambda d: dtype_run("(2000,2000)<f8", [8], list(range(8))), "none", (),
         replayed=True, check=_img_as_sent),
    # declared 3 x 800 MB per event: the key is refused at the descriptor, x stored
    Case("dtype-numpy-subarray-declared-gigabytes",
         lambda d: dtype_run(["<f8", [10000, 10000]], [3], [1, 2, 3]), "rejected_documents",
         ("'img'", "2400000000 bytes per event"), check=_x_kept),
    Case("dtype-numpy-structured-subarray-field",
         lambda d: dtype_run([["a", "<i4"], ["b", "<f8", [10000, 10000]]], [2], [1, 2]),
         "rejected_documents", ("'img'", "1600000008 bytes per event"), check=_x_kept),
]


def _same_file_run(directory: Path) -> Captured:
    directory.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(directory / "cam_.tiff", frames_of(1, 5)[0])  # 512 bytes of pixels
    docs = ad_run("AD_TIFF", directory, "", 10, SHAPE, template="%s%s_%.0s.tiff",
                  filename="cam", frame_per_point=1)
    return docs


def _reasons(db: Path, table: str) -> list[str]:
    if table == "none":
        return []
    return [reason for (reason,) in sql(db, f"SELECT reason FROM {table}")]  # noqa: S608


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_hostile_reference_costs_only_itself(case: Case, tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    earlier, earlier_frames = good_run(tmp_path / "earlier", "early", 100)
    with RunWriterCallback(db, external_timeout=TIMEOUT) as cb:
        feed(cb, earlier)
    earlier_uid = earlier.of("start")[0]["uid"]
    before = sql(db, "SELECT uid, seq_num, data FROM events ORDER BY uid")
    assert_same(stored_frames(db, earlier_uid, "cam_image"), earlier_frames)

    hostile = case.docs(tmp_path / "hostile")
    later, later_frames = good_run(tmp_path / "later", "late", 200)
    tracemalloc.start()
    began = time.monotonic()
    try:
        if case.replayed:
            saved = save_stream(Captured([*hostile, *later]), tmp_path / "saved.jsonl")
            replay(saved, db, external_timeout=TIMEOUT, **case.options)
        else:
            with RunWriterCallback(db, external_timeout=TIMEOUT, **case.options) as cb:
                feed(cb, hostile)
                feed(cb, later)  # the callback keeps answering
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - began

    assert elapsed < TIMEOUT / 2, f"waited {elapsed:.0f} s: refused only after the retry budget"
    assert peak < PEAK_BOUND, f"peak {peak >> 20} MB"
    assert_same(stored_frames(db, earlier_uid, "cam_image"), earlier_frames)
    assert sql(db, "SELECT uid, seq_num, data FROM events WHERE uid IN "
                   f"({', '.join('?' * len(before))}) ORDER BY uid",  # noqa: S608
               tuple(u for u, _, _ in before)) == before
    assert_same(stored_frames(db, later.of("start")[0]["uid"], "cam_image"), later_frames)
    reasons = _reasons(db, case.table)
    if case.table != "none":
        assert reasons, f"nothing recorded in {case.table}"
        assert any(all(word in reason for word in case.words) for reason in reasons), reasons
    hostile_uid = hostile.of("start")[0]["uid"]
    assert sql(db, "SELECT exit_status FROM runs WHERE uid = ?", (hostile_uid,)) == [
        ("success",)]
    if case.check is not None:
        case.check(db, hostile)
