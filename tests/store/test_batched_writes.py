"""The fast paths keep behaviour: batched event rows, the orjson encoder, the frame block."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import event_model
import numpy as np
import pytest
import zarr

from resonance_callback import RunWriter, RunWriterCallback, jsoncodec
from resonance_callback.store import EventRow


def _rows(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT uid, stream_uid, seq_num, time, data, timestamps, filled, derived "
            "FROM events ORDER BY seq_num").fetchall()
    finally:
        conn.close()


def _open(db: Path, **kw) -> tuple[RunWriter, str]:
    w = RunWriter(db, None, **kw)
    w.open()
    w.open_run("count", uid="run1", time=1.0)
    stream = w.open_stream("primary", {"x": {"dtype": "number", "shape": [], "source": "s"}},
                           uid="desc1", time=1.0)
    return w, stream


EVENTS = [
    EventRow("e1", "desc1", 1, 2.0, {"x": 1.5, "y": np.float32(0.1), "z": np.arange(3)},
             {"x": 10.0}),
    EventRow("e2", "desc1", 2, 3.0, {"x": math.nan, "s": "null"}, {"x": 11.0}, {"x": True}),
    EventRow("e3", "desc1", 3, 4.0, {"x": 2**70, "n": None}, {}),
]


def test_write_events_stores_what_write_event_stores(tmp_path: Path) -> None:
    one, _ = _open(tmp_path / "one.db")
    for row in EVENTS:
        one.write_event(row.data, row.timestamps or None, stream_uid=row.stream_uid,
                        uid=row.uid, time=row.time, seq_num=row.seq_num, filled=row.filled)
    one.close()
    many, _ = _open(tmp_path / "many.db")
    assert many.write_events(EVENTS) == []
    many.close()
    assert _rows(tmp_path / "one.db") == _rows(tmp_path / "many.db")


def test_write_events_commits_every_commit_every_events(tmp_path: Path) -> None:
    w, stream = _open(tmp_path / "b.db", commit_every=10, commit_interval=3600)
    events = [EventRow(f"e{i}", stream, i + 1, float(i), {"x": float(i)}, {"x": 0.0})
              for i in range(25)]
    assert w.write_events(events) == []
    assert len(_rows(tmp_path / "b.db")) == 20  # two full chunks committed, 5 pending
    w.close()
    assert len(_rows(tmp_path / "b.db")) == 25


def test_a_stored_event_in_a_batch_is_refused_alone_and_the_rest_stored(tmp_path: Path) -> None:
    w, stream = _open(tmp_path / "d.db", commit_every=2, commit_interval=3600)
    w.write_event({"x": 0.0}, {}, uid="dup", time=0.5, seq_num=5)  # the batch's 4th event
    events = [EventRow(uid, stream, i + 2, float(i), {"x": float(i)}, {})
              for i, uid in enumerate(["a", "b", "c", "dup", "e"])]
    refused = w.write_events(events)
    assert [r.index for r in refused] == [3] and "dup" in refused[0].reason
    w.close()
    assert {r[0] for r in _rows(tmp_path / "d.db")} == {"dup", "a", "b", "c", "e"}


def test_a_value_the_store_cannot_take_costs_only_itself_mid_batch(tmp_path: Path) -> None:
    w, stream = _open(tmp_path / "v.db", commit_interval=3600)
    circular: dict = {}
    circular["self"] = circular
    events = [EventRow("a", stream, 1, 1.0, {"x": 1.0}, {}),
              EventRow("b", stream, 2, 2.0, {"x": circular}, {}),  # cannot be encoded
              EventRow("c", stream, 3, [3.0], {"x": 3.0}, {}),  # type: ignore[arg-type]
              EventRow("d", stream, 4, 4.0, {"x": 4.0}, {})]
    refused = w.write_events(events)
    assert [(r.index, r.stored) for r in refused] == [(1, True), (2, False)]
    assert "event b" in refused[0].reason and "data key 'x'" in refused[0].reason
    assert "event c" in refused[1].reason
    w.close()
    assert [r[0] for r in _rows(tmp_path / "v.db")] == ["a", "b", "d"]  # b without x


def _docs(n: int, dup: int | None = None) -> list[tuple[str, dict]]:
    bundle = event_model.compose_run(time=1.0)
    desc = bundle.compose_descriptor(
        name="primary", data_keys={"x": {"dtype": "number", "shape": [], "source": "s"}},
        time=1.0)
    out = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    for i in range(n):
        out.append(("event", desc.compose_event(data={"x": float(i)}, timestamps={"x": 1.0},
                                                seq_num=i + 1, time=1.0 + i)))
        if dup == i:  # the uid again, with other content (an identical repeat is skipped)
            out.append(("event", {**out[-1][1], "data": {"x": -1.0}}))
    out.append(("stop", bundle.compose_stop(time=2.0 + n)))
    return out


@pytest.mark.parametrize("threaded", [True, False])
def test_an_event_uid_reused_in_a_batch_is_rejected_alone(tmp_path: Path, threaded: bool) -> None:
    db = tmp_path / "cb.db"
    with RunWriterCallback(db, threaded=threaded) as cb:
        for name, doc in _docs(600, dup=300):
            cb(name, doc)
    assert len(_rows(db)) == 600
    conn = sqlite3.connect(db)
    rejected = conn.execute("SELECT name, reason FROM rejected_documents").fetchall()
    conn.close()
    assert len(rejected) == 1 and rejected[0][0] == "event"


@pytest.mark.parametrize("threaded", [True, False])
def test_an_event_the_store_refuses_mid_batch_is_rejected_alone(tmp_path: Path,
                                                               threaded: bool) -> None:
    db = tmp_path / "cb.db"
    circular: dict = {}
    circular["self"] = circular
    docs = _docs(600)
    start, descriptor, *events, stop = docs
    events[100][1]["time"] = [1.0]  # SQLite cannot bind a list
    events[200][1]["data"] = {"x": circular}  # no encoder takes it: stored without it
    with RunWriterCallback(db, threaded=threaded) as cb:
        for name, doc in docs:
            cb(name, doc)
        counts = cb.write_counts()
    assert counts.events == 599 and counts.rejected == counts.rejected_documents == 2
    conn = sqlite3.connect(db)
    rejected = conn.execute("SELECT name, uid, reason FROM rejected_documents "
                            "ORDER BY id").fetchall()
    status = conn.execute("SELECT exit_status FROM runs").fetchall()
    conn.close()
    assert [(name, uid) for name, uid, _ in rejected] == [
        ("event", events[100][1]["uid"]), ("event", events[200][1]["uid"])]
    assert all(uid in reason for _, uid, reason in rejected)
    assert status == [("success",)]


@pytest.mark.parametrize("value", [
    {"a": 1.5, "b": 2, "c": "x", "d": True, "e": None},
    {"a": math.nan, "b": -math.inf},
    {"big": 2**70, "small": -(2**63)},
    {"f32": np.float32(0.1), "arr": np.arange(4), "nan_arr": np.array([1.0, np.nan])},
    {"list": [1, 2.5, "s"], "tuple": (1, 2)},
    {"cplx": np.array([1 + 2j]), "obj": np.array([{}], dtype=object)},
    {1: "non-str key"},
    {"e": 1e16, "f": 1e-7, "g": -0.0},
    {"text": "null é \x00"},
])
def test_dumps_fast_path_decodes_to_what_the_json_path_does(value: dict) -> None:
    fast = jsoncodec.dumps(value)
    slow = jsoncodec._safe.encode(jsoncodec.to_builtin(value))
    assert json.dumps(jsoncodec.loads(fast), sort_keys=True, default=repr) == json.dumps(
        jsoncodec.loads(slow), sort_keys=True, default=repr)


def test_frames_handed_over_are_read_back_after_flush(tmp_path: Path) -> None:
    from resonance_callback.store import _frames as frames

    store = frames.FrameStore(tmp_path / "f.zarr", codec="blosc-lz4")
    rng = np.random.default_rng(1)
    written = [rng.integers(0, 4000, (8, 6), dtype=np.uint16) for _ in range(5)]
    for i, frame in enumerate(written[:3]):
        assert store.append("a", frame)[0] == i
    store.flush()
    for i, frame in enumerate(written[3:], start=3):
        assert store.append("a", frame.astype(np.uint8) if i == 4 else frame)[0] == i
    assert store.pending_frames() == 2
    assert store.group["a"].shape == (3, 8, 6)  # grown only by flush()
    store.flush()
    assert store.pending_frames() == 0
    for i, frame in enumerate(written):
        expected = frame.astype(np.uint8).astype(np.uint16) if i == 4 else frame
        np.testing.assert_array_equal(store.read("a", i), expected)
    store.close()


@pytest.mark.parametrize("duplicate", [False, True])
def test_a_chunk_longer_than_one_insert_stores_all_but_a_repeated_uid(tmp_path: Path,
                                                                      duplicate: bool) -> None:
    n = 4500  # more rows than one INSERT takes: two INSERTs in one transaction
    w, stream = _open(tmp_path / "w.db", commit_every=n, commit_interval=3600)
    uids = [f"e{i}" for i in range(n)]
    seq_nums = [i + 1 for i in range(n)]
    if duplicate:  # the first event again (its key: stream, seq_num, uid), other values
        uids[-1], seq_nums[-1] = uids[0], seq_nums[0]
    events = [EventRow(uid, stream, seq_num, float(i), {"x": float(i)}, {"x": 0.0})
              for i, (uid, seq_num) in enumerate(zip(uids, seq_nums, strict=True))]
    refused = w.write_events(events)
    assert [r.index for r in refused] == ([n - 1] if duplicate else [])
    w.close()
    assert len(_rows(tmp_path / "w.db")) == (n - 1 if duplicate else n)


def test_statements_cover_every_row_once_in_few_distinct_sizes() -> None:
    from resonance_callback.store._events import ROWS_PER_INSERT, statement_parts

    sizes = set()
    for rows in [*range(1, 3000), 4500, 9999]:
        parts = statement_parts(rows, 1000)
        assert [first for first, _ in parts] == [sum(n for _, n in parts[:k])
                                                 for k in range(len(parts))]
        assert sum(n for _, n in parts) == rows
        sizes |= {n for _, n in parts}
    assert statement_parts(1000, 1000) == [(0, 1000)]  # a full chunk: one statement
    assert sizes <= {1000} | {2**k for k in range(12)} and max(sizes) == ROWS_PER_INSERT


@pytest.mark.parametrize("where", [0, 700, 1336])
def test_a_repeated_uid_in_any_statement_of_a_chunk_is_refused_alone(tmp_path: Path,
                                                                     where: int) -> None:
    n = 1337  # 1024 + 256 + 32 + 16 + 8 + 1: six INSERTs
    w, stream = _open(tmp_path / "w.db", commit_every=5000, commit_interval=3600)
    w.write_events([EventRow("old", stream, 0, 0.0, {"x": 0.0}, {"x": 0.0})])
    uids = [f"e{i}" for i in range(n)]
    uids[where] = "old"  # the stored event again: its key (stream, seq_num 0, uid)
    refused, stored = _refused_and_stored(w, tmp_path / "w.db", stream, uids, "old")
    assert refused == [where] and stored == {"old", *uids}


def test_a_connections_first_chunk_goes_in_small_statements_of_one_or_two_sizes() -> None:
    from resonance_callback.store._event_columns import FIRST_ROWS_PER_INSERT
    from resonance_callback.store._events import statement_parts

    for rows in [*range(FIRST_ROWS_PER_INSERT + 1, 3000), 9999]:
        parts = statement_parts(rows, 1000, first=True)
        assert [first for first, _ in parts] == [sum(n for _, n in parts[:k])
                                                 for k in range(len(parts))]
        assert sum(n for _, n in parts) == rows
        sizes = {n for _, n in parts}
        assert max(sizes) <= FIRST_ROWS_PER_INSERT and len(sizes) <= 2
    assert statement_parts(1000, 1000, first=True) == [(k * 125, 125) for k in range(8)]


@pytest.mark.parametrize("where", [100, 500, 999])
def test_a_repeated_uid_in_a_connections_first_chunk_is_refused_alone(tmp_path: Path,
                                                                      where: int) -> None:
    w, stream = _open(tmp_path / "w.db", commit_every=1000, commit_interval=3600)
    uids = [f"e{i}" for i in range(1000)]
    uids[3] = uids[where] = "dup"  # the same key twice: in one 125-row statement or two
    assert _refused_and_stored(w, tmp_path / "w.db", stream, uids, "dup") == ([where], set(uids))


def _refused_and_stored(w: RunWriter, db: Path, stream: str, uids: list[str],
                        again: str) -> tuple[list[int], set[str]]:
    """Write events ``uids`` (``again`` with seq_num 0: one key); refused indexes, uids stored."""
    refused = w.write_events([EventRow(uid, stream, 0 if uid == again else i + 1, float(i),
                                       {"x": float(i)}, {"x": 0.0})
                              for i, uid in enumerate(uids)])
    w.close()
    stored = _rows(db)
    assert len(stored) == len({r[0] for r in stored})  # each uid once
    return [r.index for r in refused], {r[0] for r in stored}


@pytest.mark.parametrize("codec", ["blosc-lz4", "blosc-zstd", "zstd", "none"])
@pytest.mark.parametrize("dtype", ["<u2", ">u2", "u1", "<f8", "<i4"])
def test_chunks_written_directly_are_the_bytes_zarr_itself_writes(tmp_path: Path, codec: str,
                                                                 dtype: str) -> None:
    from resonance_callback.store import _frames as frames

    rng = np.random.default_rng(3)
    written = [rng.integers(0, 200, (6, 5)).astype(dtype) for _ in range(4)]
    store = frames.FrameStore(tmp_path / "f.zarr", codec=codec)
    for frame in written:
        store.append("a", frame)
    store.flush()
    store.close()
    ours = zarr.open_array(tmp_path / "f.zarr" / "a", mode="r")
    theirs = zarr.create_array(tmp_path / "z.zarr", shape=ours.shape, chunks=ours.chunks,
                               dtype=ours.dtype, compressors=frames.make_codec(codec),
                               fill_value=0, config=frames.ARRAY_CONFIG)
    theirs[:] = np.stack(written)
    for i, frame in enumerate(written):
        key = f"c/{i}/0/0"
        assert (tmp_path / "f.zarr" / "a" / key).read_bytes() == (
            tmp_path / "z.zarr" / key).read_bytes()
        np.testing.assert_array_equal(ours[i], frame)
    assert frames.codec_name(ours) == codec


def test_a_frame_changed_after_append_is_written_as_it_was(tmp_path: Path) -> None:
    from resonance_callback.store import _frames as frames

    store = frames.FrameStore(tmp_path / "f.zarr")
    buffer = np.zeros((64, 64), np.uint16)
    for value in range(1, 6):  # a detector reusing one buffer
        buffer[:] = value
        store.append("a", buffer)
    store.flush()
    assert [int(store.read("a", i)[0, 0]) for i in range(5)] == [1, 2, 3, 4, 5]
    store.close()


def test_frames_in_a_memory_store_are_written_through_zarr() -> None:
    from resonance_callback.store import _frames as frames

    store = frames.FrameStore(zarr.storage.MemoryStore())
    written = [np.full((3, 2), i, np.int32) for i in range(3)]
    for frame in written:
        store.append("a", frame)
    store.flush()
    for i, frame in enumerate(written):
        np.testing.assert_array_equal(store.read("a", i), frame)
    store.close()


def test_a_failed_frame_write_is_raised_naming_the_frame_and_store(tmp_path: Path) -> None:
    from resonance_callback.errors import StorageError
    from resonance_callback.store import _frames as frames

    store = frames.FrameStore(tmp_path / "f.zarr")
    store.append("a", np.ones((4, 4), np.uint16))
    store.flush()
    (tmp_path / "f.zarr" / "a" / "c").rename(tmp_path / "elsewhere")
    (tmp_path / "f.zarr" / "a" / "c").write_text("a file where the chunk directories go")
    store.append("a", np.ones((4, 4), np.uint16))
    with pytest.raises(StorageError, match=r"frame 1 of a in .*f\.zarr"):
        store.flush()
    store.close()


def test_a_group_made_by_another_process_meanwhile_is_opened(tmp_path: Path,
                                                            monkeypatch) -> None:
    from resonance_callback.store import _frames as frames

    where = tmp_path / "f.zarr"
    zarr.create_group(str(where)).attrs["made_by"] = "the other process"
    # The other process made it between our look and our create_group.
    monkeypatch.setattr(frames.os.path, "exists", lambda path: False)
    store = frames.FrameStore(where)
    assert store.group.attrs["made_by"] == "the other process"
    store.append("a", np.ones((2, 2), np.uint8))
    store.flush()
    store.close()


def test_frames_beyond_the_in_flight_bound_wait_and_all_arrive(tmp_path: Path,
                                                               monkeypatch) -> None:
    from resonance_callback.store import _frames as frames

    written = [np.full((32, 32), i, np.uint16) for i in range(20)]
    monkeypatch.setattr(frames, "INFLIGHT_BYTES", 3 * written[0].nbytes)
    store = frames.FrameStore(tmp_path / "f.zarr")
    for frame in written:
        store.append("a", frame)
        assert store._inflight_bytes <= 3 * written[0].nbytes
    store.flush()
    store.close()
    array = zarr.open_array(tmp_path / "f.zarr" / "a", mode="r")
    assert array.shape == (20, 32, 32)
    assert [int(array[i][0, 0]) for i in range(20)] == list(range(20))


def test_a_storage_failure_on_the_writer_thread_is_raised_naming_the_store(
        tmp_path: Path) -> None:
    from resonance_callback import StorageError

    db = tmp_path / "bt.db"
    bundle = event_model.compose_run(time=1.0)
    desc = bundle.compose_descriptor(
        name="primary", data_keys={"img": {"dtype": "array", "shape": [4, 4], "source": "s"}},
        time=1.0)
    cb = RunWriterCallback(db)
    cb("start", bundle.start_doc)
    cb("descriptor", desc.descriptor_doc)
    cb("event", desc.compose_event(data={"img": np.ones((4, 4), np.uint16)},
                                   timestamps={"img": 1.0}, seq_num=1, time=1.0))
    cb.flush()
    chunks = tmp_path / "bt.zarr" / "runs" / bundle.start_doc["uid"] / "primary" / "img" / "c"
    chunks.rename(tmp_path / "elsewhere")
    chunks.write_text("a file where the chunk directories go")
    cb("event", desc.compose_event(data={"img": np.ones((4, 4), np.uint16)},
                                   timestamps={"img": 1.0}, seq_num=2, time=2.0))
    with pytest.raises(StorageError, match=r"bt\.zarr"):
        cb.flush()
    cb("stop", bundle.compose_stop(time=3.0))
    cb.close()
    conn = sqlite3.connect(db)
    rejected = conn.execute("SELECT count(*) FROM rejected_documents").fetchone()[0]
    status = conn.execute("SELECT exit_status FROM runs").fetchall()
    conn.close()
    assert rejected == 0 and status == [("success",)]  # a failure of the disk, not a document
