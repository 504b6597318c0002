"""The callback's routing, fed documents made with event_model.compose_run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import event_model
import numpy as np
import pytest

from resonance_callback import RunWriterCallback, StorageError, jsoncodec

from ..conftest import sql

KEYS = {
    "det": {"dtype": "number", "shape": [], "source": "sim"},
    "img": {"dtype": "array", "shape": [3, 4], "source": "sim"},
}


def new_run(metadata=None):
    bundle = event_model.compose_run(metadata=metadata or {"plan_name": "count"})
    desc = bundle.compose_descriptor(data_keys=KEYS, name="primary")
    return bundle, desc


def event(desc, seq, det=1.0, img=None):
    img = np.full((3, 4), seq, dtype=np.uint16) if img is None else img
    return desc.compose_event(data={"det": det, "img": img},
                              timestamps={"det": 1.0 * seq, "img": 1.0 * seq}, seq_num=seq)


@pytest.fixture
def callback(db_path: Path):
    cb = RunWriterCallback(db_path)
    yield cb
    cb.close()


def rejected(db_path: Path) -> list[tuple[str, str]]:
    return sql(db_path, "SELECT name, reason FROM rejected_documents ORDER BY id")


def test_event_page_rows_each_become_an_event_row(callback, db_path: Path) -> None:
    bundle, desc = new_run()
    callback("start", bundle.start_doc)
    callback("descriptor", desc.descriptor_doc)
    page = event_model.pack_event_page(*[event(desc, i) for i in (1, 2, 3)])
    callback("event_page", page)
    callback("stop", bundle.compose_stop())
    assert sql(db_path, "SELECT seq_num FROM events ORDER BY seq_num") == [(1,), (2,), (3,)]
    assert sql(db_path, "SELECT count(*) FROM image_refs") == [(3,)]


def test_two_runs_open_at_once_land_in_their_own_rows(callback, db_path: Path) -> None:
    (a, da), (b, db) = new_run({"sample": "a"}), new_run({"sample": "b"})
    for name, doc in [("start", a.start_doc), ("start", b.start_doc),
                      ("descriptor", da.descriptor_doc), ("descriptor", db.descriptor_doc),
                      ("event", event(da, 1, det=10.0)), ("event", event(db, 1, det=20.0)),
                      ("stop", b.compose_stop()), ("event", event(da, 2, det=11.0)),
                      ("stop", a.compose_stop())]:
        callback(name, doc)
    rows = sql(db_path, "SELECT s.run_uid, json_extract(e.data, '$.det') FROM events e "
                        "JOIN streams s ON s.uid = e.stream_uid ORDER BY e.time")
    assert rows == [(a.start_doc["uid"], 10.0), (b.start_doc["uid"], 20.0),
                    (a.start_doc["uid"], 11.0)]
    assert rejected(db_path) == []


@pytest.mark.parametrize(
    ("label", "sequence", "reason"),
    [
        ("event before its descriptor",
         lambda b, d: [("start", b.start_doc), ("event", event(d, 1))], "unknown"),
        ("descriptor of an unknown run",
         lambda b, d: [("descriptor", d.descriptor_doc)], "unknown"),
        ("duplicate start uid",
         lambda b, d: [("start", b.start_doc), ("start", b.start_doc)], "already received"),
        ("second stop",
         lambda b, d: [("start", b.start_doc), ("stop", stop := b.compose_stop()),
                       ("stop", dict(stop, uid="another"))], "already stopped"),
        ("unknown document name",
         lambda b, d: [("start", b.start_doc), ("bogus", {"uid": "x"})], "unknown document"),
        ("event missing its data",
         lambda b, d: [("start", b.start_doc), ("descriptor", d.descriptor_doc),
                       ("event", {k: v for k, v in event(d, 1).items() if k != "data"})],
         "'data'"),
        ("document that is not a dict",
         lambda b, d: [("start", ["not", "a", "dict"])], "not a dict"),
    ],
)
def test_malformed_document_is_kept_with_reason_and_never_raises(
    callback, db_path: Path, caplog, label, sequence, reason
) -> None:
    bundle, desc = new_run()
    with caplog.at_level(logging.WARNING, logger="resonance_callback"):
        for name, doc in sequence(bundle, desc):
            callback(name, doc)  # never raises
        callback.flush()
    rows = rejected(db_path)
    assert len(rows) == 1, label
    assert reason in rows[0][1]
    assert sum("rejected" in r.message for r in caplog.records) == 1


def test_duplicate_event_uid_is_rejected_and_first_copy_kept(callback, db_path: Path) -> None:
    bundle, desc = new_run()
    callback("start", bundle.start_doc)
    callback("descriptor", desc.descriptor_doc)
    ev = event(desc, 1, det=5.0)
    callback("event", ev)
    callback("event", dict(ev, data={"det": 6.0, "img": ev["data"]["img"]}))
    callback("stop", bundle.compose_stop())
    assert sql(db_path, "SELECT json_extract(data, '$.det') FROM events") == [(5.0,)]
    [(name, reason)] = rejected(db_path)
    assert name == "event" and ev["uid"] in reason or "UNIQUE" in reason


def test_frame_whose_shape_changes_midrun_is_rejected_not_reshaped(
    callback, db_path: Path
) -> None:
    bundle, desc = new_run()
    callback("start", bundle.start_doc)
    callback("descriptor", desc.descriptor_doc)
    callback("event", event(desc, 1))
    callback("event", event(desc, 2, img=np.zeros((5, 5), dtype=np.uint16)))
    callback("event", event(desc, 3))
    callback("stop", bundle.compose_stop())
    # Every event row is stored; the bad frame is not, and is kept whole with the reason.
    assert sql(db_path, "SELECT count(*) FROM events") == [(3,)]
    assert sql(db_path, "SELECT frame_index FROM image_refs ORDER BY frame_index") == [(0,), (1,)]
    [(name, reason)] = rejected(db_path)
    assert "'img'" in reason and "(5, 5)" in reason
    kept = jsoncodec.loads(sql(db_path, "SELECT document FROM rejected_documents")[0][0])
    assert np.asarray(kept["data"]["img"]).shape == (5, 5)


def test_frame_of_another_dtype_is_left_out_and_the_rest_of_its_event_stored(
    callback, db_path: Path
) -> None:
    bundle, desc = new_run()
    callback("start", bundle.start_doc)
    callback("descriptor", desc.descriptor_doc)
    callback("event", event(desc, 1))
    callback("event", event(desc, 2, det=2.5, img=np.full((3, 4), 0.5)))  # float64, not uint16
    callback("event", event(desc, 3))
    callback("stop", bundle.compose_stop())
    # The event's scalar value is stored; its frame is not, and the event is kept with the reason.
    assert sql(db_path, "SELECT json_extract(data, '$.det') FROM events ORDER BY seq_num") == [
        (1.0,), (2.5,), (1.0,)]
    assert sql(db_path, "SELECT frame_index FROM image_refs ORDER BY frame_index") == [(0,), (1,)]
    [(name, reason)] = rejected(db_path)
    assert name == "event" and "'img'" in reason and "float64" in reason and "uint16" in reason
    assert "the rest of the event is stored" in reason


def test_start_whose_metadata_cannot_be_encoded_opens_its_run_without_that_part(
    callback, db_path: Path
) -> None:
    bundle, desc = new_run({"plan_name": "count", "calib": {"gain": 2}})
    start = dict(bundle.start_doc, calib={"gain": 2, (1, 2): "tuple key"})
    callback("start", start)
    callback("descriptor", desc.descriptor_doc)
    callback("event", event(desc, 1))
    callback("stop", bundle.compose_stop())
    assert sql(db_path, "SELECT json_extract(metadata, '$.calib'), exit_status FROM runs") == [
        ('{"gain":2}', "success")]
    assert sql(db_path, "SELECT count(*) FROM events") == [(1,)]
    [(name, reason)] = rejected(db_path)
    assert name == "start" and "calib[<tuple key>]" in reason and "left out" in reason


def test_bluesky_exit_statuses_map_to_the_spec(callback, db_path: Path) -> None:
    for status in ("success", "abort", "fail"):
        bundle, _ = new_run()
        callback("start", bundle.start_doc)
        callback("stop", bundle.compose_stop(exit_status=status, reason=status))
    assert sorted(sql(db_path, "SELECT exit_status FROM runs")) == [
        ("aborted",), ("failed",), ("success",)]


def test_sample_comes_from_start_name_or_dict_else_default(db_path: Path) -> None:
    with RunWriterCallback(db_path, sample="default sample") as cb:
        for md in ({"sample": "by name"}, {"sample": {"name": "by dict", "thickness": 2}}, {}):
            bundle, _ = new_run(dict(md, plan_name="count"))
            cb("start", bundle.start_doc)
            cb("stop", bundle.compose_stop())
    rows = sql(db_path, "SELECT s.name, s.metadata FROM runs r JOIN samples s "
                        "ON s.id = r.sample_id ORDER BY r.time_start")
    assert rows == [("by name", "{}"), ("by dict", '{"thickness":2}'), ("default sample", "{}")]


def test_awkward_values_are_stored_losslessly_as_valid_json(callback, db_path: Path) -> None:
    md = {"plan_name": "count", "nan": float("nan"), "inf": float("inf"),
          "ninf": -float("inf"), "big": 2**64 + 1, "bigger": -(2**70), "text": "Å→β 🧪",
          "np_int": np.int64(2**62), "np_float": np.float32(1.5), "arr": np.arange(3)}
    bundle = event_model.compose_run(metadata=md)
    callback("start", bundle.start_doc)
    callback("stop", bundle.compose_stop())
    callback.flush()
    (text, valid), = sql(db_path, "SELECT metadata, json_valid(metadata) FROM runs")
    assert valid == 1
    stored = jsoncodec.loads(text)
    assert np.isnan(stored["nan"]) and stored["inf"] == float("inf")
    assert stored["ninf"] == -float("inf")
    assert stored["big"] == 2**64 + 1 and stored["bigger"] == -(2**70)
    assert stored["text"] == "Å→β 🧪" and stored["np_int"] == 2**62
    assert stored["np_float"] == 1.5 and stored["arr"] == [0, 1, 2]
    assert json.loads(sql(db_path, "SELECT json_extract(metadata, '$.inf') FROM runs")[0][0]) == {
        "$float": "Infinity"}


def test_unwritable_database_location_raises_storage_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="missing-dir"):
        RunWriterCallback(tmp_path / "missing-dir" / "bt.db")


def test_callback_closed_twice_is_harmless(db_path: Path) -> None:
    cb = RunWriterCallback(db_path)
    cb.close()
    cb.close()
    with pytest.raises(StorageError, match="closed"):
        cb("start", new_run()[0].start_doc)


def scalar_run():
    bundle = event_model.compose_run(metadata={"plan_name": "count"})
    desc = bundle.compose_descriptor(data_keys={"det": KEYS["det"]}, name="primary")
    return bundle, desc


def test_inline_writer_with_commit_every_1_commits_each_scalar_event_as_it_comes(
        db_path: Path) -> None:
    bundle, desc = scalar_run()
    seen = []
    with RunWriterCallback(db_path, threaded=False, commit_every=1) as cb:
        cb("start", bundle.start_doc)
        cb("descriptor", desc.descriptor_doc)
        for seq in (1, 2, 3):
            cb("event", desc.compose_event(data={"det": seq}, timestamps={"det": 1.0},
                                           seq_num=seq))
            seen.append(sql(db_path, "SELECT count(*) FROM events")[0][0])
        cb("stop", bundle.compose_stop())
    assert seen == [1, 2, 3]


def test_inline_writer_stores_held_events_before_the_next_document_and_at_flush(
        db_path: Path) -> None:
    bundle, desc = scalar_run()
    with RunWriterCallback(db_path, threaded=False) as cb:
        cb("start", bundle.start_doc)
        cb("descriptor", desc.descriptor_doc)
        for seq in (1, 2, 3):
            cb("event", desc.compose_event(data={"det": seq}, timestamps={"det": 1.0},
                                           seq_num=seq))
        cb.flush()
        assert sql(db_path, "SELECT seq_num FROM events ORDER BY seq_num") == [(1,), (2,), (3,)]
        for seq in (4, 5):
            cb("event", desc.compose_event(data={"det": seq}, timestamps={"det": 1.0},
                                           seq_num=seq))
        cb("stop", bundle.compose_stop())  # committed with the events before it
        assert sql(db_path, "SELECT exit_status FROM runs") == [("success",)]
        assert sql(db_path, "SELECT count(*) FROM events") == [(5,)]


def test_record_rejected_keeps_any_content_with_the_run_it_is_given(db_path: Path) -> None:
    with RunWriterCallback(db_path) as cb:
        cb.record_rejected("message", b"\x00not a document", "could not be read", run_uid="r-1")
        cb.flush()
    rows = sql(db_path, "SELECT run_uid, name, reason, document FROM rejected_documents")
    assert [row[:3] for row in rows] == [("r-1", "message", "could not be read")]
    assert "not a document" in rows[0][3]
