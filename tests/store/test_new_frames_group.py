"""A new beamtime's Zarr group is made without zarr and opened with zarr at its first use."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import zarr

from resonance_callback import RunWriter, replay
from resonance_callback.errors import StorageError
from resonance_callback.read import check_beamtime, open_beamtime
from resonance_callback.store import _frames as frames
from resonance_callback.store._repair import repair_beamtime


def _zarr_made(tmp_path: Path) -> bytes:
    zarr.create_group(str(tmp_path / "by-zarr.zarr"))
    return (tmp_path / "by-zarr.zarr" / "zarr.json").read_bytes()


def test_new_folder_holds_the_group_zarr_makes_and_zarr_opens_it_at_the_first_frame(
        tmp_path: Path) -> None:
    store = frames.FrameStore(tmp_path / "f.zarr")
    assert sorted(p.name for p in (tmp_path / "f.zarr").iterdir()) == ["zarr.json"]
    assert (tmp_path / "f.zarr" / "zarr.json").read_bytes() == _zarr_made(tmp_path)
    assert store._root._group is None  # not opened: no frame yet
    assert store.append("a", np.arange(6, dtype=np.uint16).reshape(2, 3))[0] == 0
    store.flush()
    assert store._root._group is not None
    store.close()
    group = zarr.open_group(tmp_path / "f.zarr", mode="r")
    np.testing.assert_array_equal(group["a"][0], np.arange(6).reshape(2, 3))


def test_a_scalar_only_beamtime_has_its_group_and_reads_checks_and_repairs_cleanly(
        tmp_path: Path) -> None:
    source = tmp_path / "saved.jsonl"
    docs = [("start", {"uid": "r1", "time": 1.0, "plan_name": "count"}),
            ("descriptor", {"uid": "d1", "run_start": "r1", "time": 1.0, "name": "primary",
                            "data_keys": {"x": {"dtype": "number", "shape": [],
                                                "source": "s"}}}),
            ("event", {"uid": "e1", "descriptor": "d1", "seq_num": 1, "time": 1.5,
                       "data": {"x": 2.5}, "timestamps": {"x": 1.5}}),
            ("stop", {"uid": "s1", "run_start": "r1", "time": 2.0, "exit_status": "success"})]
    source.write_text("".join(json.dumps([name, doc]) + "\n" for name, doc in docs))
    db = tmp_path / "bt.db"
    replay(source, db)
    folder = tmp_path / "bt.zarr"
    assert sorted(p.name for p in folder.iterdir()) == ["zarr.json"]
    assert json.loads((folder / "zarr.json").read_bytes()) == json.loads(_zarr_made(tmp_path))
    with open_beamtime(db) as bt:
        assert list(bt["r1"].table()["x"]) == [2.5]
    report = check_beamtime(db)
    assert report.ok, report
    assert repair_beamtime(db).interrupted == []
    assert check_beamtime(db).ok


def test_the_spec_writer_opens_its_group_when_asked(tmp_path: Path) -> None:
    w = RunWriter(tmp_path / "bt.db", None)
    w.open()
    try:
        assert isinstance(w._zarr_store, zarr.Group)
    finally:
        w.close()
    assert (tmp_path / "bt.zarr" / "zarr.json").is_file()


def test_an_existing_folder_is_opened_at_once_and_refused_if_no_group(tmp_path: Path) -> None:
    folder = tmp_path / "f.zarr"
    zarr.create_array(str(folder), shape=(2,), dtype="i4")  # an array, not a group
    with pytest.raises(StorageError, match="f.zarr"):
        frames.FrameStore(folder)


def test_stores_made_at_once_on_one_new_folder_all_keep_their_frames(tmp_path: Path) -> None:
    folder = tmp_path / "f.zarr"
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def make(i: int) -> None:
        try:
            barrier.wait()
            store = frames.FrameStore(folder)
            store.append(f"a{i}", np.full((2, 2), i, dtype=np.int16))
            store.flush()
            store.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    group = zarr.open_group(folder, mode="r")
    for i in range(6):
        np.testing.assert_array_equal(group[f"a{i}"][0], np.full((2, 2), i))
    assert not [p for p in folder.iterdir() if p.name.endswith(".partial")]


def test_frames_of_a_new_beamtime_go_to_the_group_made_for_them(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    with RunWriter(db, None) as writer:
        writer.open_run("count", uid="r1", time=1.0)
        writer.open_stream("primary", {"cam": {"dtype": "array", "shape": [2, 2],
                                               "source": "sim"}}, uid="d1", time=1.0)
        for seq in (1, 2):
            writer.write_event({}, {}, uid=f"e{seq}", time=1.0 + seq, seq_num=seq)
            writer.write_image(f"e{seq}", "cam", np.full((2, 2), seq))
        writer.close_run()
    with open_beamtime(db) as bt:
        frames_read = bt["r1"].primary.frames("cam")
        np.testing.assert_array_equal(frames_read[1], np.full((2, 2), 2))
    assert check_beamtime(db).ok
