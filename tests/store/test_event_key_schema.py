"""Beamtime schema 4: events keyed in arrival order; a schema-3 beamtime is upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import event_model
import numpy as np
import pytest

from resonance_callback import RunWriterCallback, jsoncodec, open_beamtime
from resonance_callback import _sqlite as schema
from resonance_callback.errors import DocumentError
from resonance_callback.read import check_beamtime
from resonance_callback.store import RunWriter

from .test_run_queries_schema import database_at_version


def _version_3_beamtime(path: Path) -> list[tuple]:
    """A schema-3 beamtime with one run, 4 events (rowid 1 deleted) and an image_refs row."""
    conn = database_at_version(path, "beamtime", 3)
    bundle = event_model.compose_run(metadata={"plan_name": "count", "scan_id": 1})
    desc = bundle.compose_descriptor(name="primary", data_keys={
        "x": {"source": "sim", "dtype": "number", "shape": []}})
    conn.execute("INSERT INTO runs (uid, plan_name, scan_id, time_start, metadata) "
                 "VALUES (?, 'count', 1, 1.0, ?)", (bundle.start_doc["uid"],
                                                    jsoncodec.dumps(bundle.start_doc)))
    conn.execute("INSERT INTO streams (uid, run_uid, name, data_keys) VALUES (?, ?, 'primary', ?)",
                 (desc.descriptor_doc["uid"], bundle.start_doc["uid"],
                  jsoncodec.dumps(desc.descriptor_doc["data_keys"])))
    for seq in range(1, 6):
        ev = desc.compose_event(data={"x": float(seq)}, timestamps={"x": 1.0}, seq_num=seq)
        conn.execute("INSERT INTO events (uid, stream_uid, seq_num, time, data, timestamps, "
                     "derived) VALUES (?, ?, ?, ?, ?, '{\"x\": 1.0}', 0)",
                     (ev["uid"], ev["descriptor"], seq, 1.0 + seq,
                      jsoncodec.dumps(ev["data"])))
    conn.execute("INSERT INTO image_refs (event_uid, field_name, zarr_path, frame_index, "
                 "compression_codec) SELECT uid, 'img', 'runs/a/primary/img', 0, 'none' "
                 "FROM events WHERE seq_num = 2")
    conn.execute("DELETE FROM events WHERE seq_num = 1")  # rowid 1 gone: rowids are kept
    rows = conn.execute("SELECT rowid, * FROM events ORDER BY rowid").fetchall()
    conn.close()
    return rows


def test_a_version_3_beamtime_keeps_every_event_row_and_rowid_when_upgraded(
        tmp_path: Path) -> None:
    db = tmp_path / "v3.db"
    before = _version_3_beamtime(db)
    conn = schema.connect(db)  # a writer's open upgrades it
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        assert version == schema.latest_version("beamtime")
        assert conn.execute("SELECT rowid, * FROM events ORDER BY rowid").fetchall() == before
        assert conn.execute("SELECT event_uid FROM image_refs").fetchall() == [(before[0][1],)]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    with open_beamtime(db) as bt:
        assert list(bt[1].table()["x"]) == [2.0, 3.0, 4.0, 5.0]


def test_no_index_of_the_events_table_starts_with_the_random_uid(tmp_path: Path) -> None:
    # The point of schema 4: an event goes at the end of its stream's part of the
    # key, never to a random page of a uid index that outgrows the page cache.
    db = tmp_path / "bt.db"
    RunWriter(db, None).__enter__().close()
    conn = sqlite3.connect(db)
    try:
        firsts = {conn.execute(f"PRAGMA index_info({name!r})").fetchone()[2]
                  for _, name, *_ in conn.execute("PRAGMA index_list(events)")}
        plan = conn.execute("EXPLAIN QUERY PLAN SELECT * FROM events WHERE stream_uid = ? AND "
                            "seq_num = ? AND uid = ?", ("s", 1, "u")).fetchall()
    finally:
        conn.close()
    assert firsts == {"stream_uid"}
    assert any("USING INDEX events_key" in row[-1] for row in plan)


def _docs(reuse_at: int) -> list[tuple[str, dict]]:
    bundle = event_model.compose_run(metadata={"plan_name": "count"})
    desc = bundle.compose_descriptor(name="primary", data_keys={
        "x": {"source": "sim", "dtype": "number", "shape": []}})
    events = [desc.compose_event(data={"x": float(i)}, timestamps={"x": 1.0}, seq_num=i + 1)
              for i in range(4)]
    events[reuse_at] = {**events[reuse_at], "uid": events[0]["uid"]}
    return [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc),
            *(("event", ev) for ev in events), ("stop", bundle.compose_stop())]


def test_an_event_uid_reused_by_another_event_is_kept_on_both_rows_and_check_names_it(
        tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    docs = _docs(reuse_at=2)
    with RunWriterCallback(db) as cb:
        for name, doc in docs:
            cb(name, doc)
    uid = docs[2][1]["uid"]
    with open_beamtime(db) as bt:
        assert list(bt[-1].table()["x"]) == [0.0, 1.0, 2.0, 3.0]  # nothing lost
    report = check_beamtime(db)
    assert report.reused_event_uids == [{"uid": uid, "rows": 2,
                                         "streams": docs[1][1]["uid"]}]
    assert not report.ok and "1 event uid(s) given to several events" in report.problems
    assert any(uid in line for line in report.lines())


def test_the_same_event_document_twice_is_still_refused_on_arrival(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    docs = _docs(reuse_at=0)
    again = {**docs[2][1], "data": {"x": 99.0}}
    with RunWriterCallback(db) as cb:
        for name, doc in [*docs[:3], ("event", again), *docs[3:]]:
            cb(name, doc)
    conn = sqlite3.connect(db)
    try:
        stored = conn.execute("SELECT json_extract(data, '$.x') FROM events "
                              "ORDER BY seq_num").fetchall()
        rejected = conn.execute("SELECT name, reason FROM rejected_documents").fetchall()
    finally:
        conn.close()
    assert stored == [(0.0,), (1.0,), (2.0,), (3.0,)]
    assert [name for name, _ in rejected] == ["event"] and again["uid"] in rejected[0][1]
    assert check_beamtime(db).reused_event_uids == []


def test_a_frame_for_an_earlier_event_of_an_open_stream_finds_its_event(tmp_path: Path) -> None:
    with RunWriter(tmp_path / "bt.db", None) as w:
        w.open_run("count")
        stream = w.open_stream("primary", {"img": {"dtype": "array", "shape": [2, 2],
                                                   "source": "sim"}})
        first = w.write_event({})
        w.write_event({})
        w.write_image(first, "img", np.ones((2, 2), np.uint16))  # not the last event
        w.write_image(w.write_event({}), "img", np.zeros((2, 2), np.uint16),
                      stream_uid=stream, seq_num=3)
        with pytest.raises(DocumentError, match="no event nope"):
            w.write_image("nope", "img", np.ones((2, 2), np.uint16))
        with pytest.raises(DocumentError, match="no event"):
            w.write_image(first, "img", np.ones((2, 2), np.uint16), stream_uid=stream,
                          seq_num=2)  # the wrong seq_num: not this event's key
    with open_beamtime(tmp_path / "bt.db") as bt:
        frames = bt[-1].images("img")
        assert len(frames) == 2 and np.asarray(frames[0]).sum() == 4
