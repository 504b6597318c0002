"""Resource and stream-resource uids are scoped per run, as TiledWriter scopes them (issue 22).

The ecosystem's own example documents reuse a resource's uid (and so its datum ids,
``{resource}/{n}``) in every run they make; TiledWriter keeps one writer per run, so the
same uid in two runs is two resources. Beamtime schema 6 keys ``external_documents`` by
``(run_uid, name, uid)``: within one run the same document again is one row, and other
content under the same uid is refused naming it.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import bluesky.plans as bp
import event_model
import h5py
import numpy as np
import zarr
from ophyd.sim import SynSignalWithRegistry

from resonance_callback import RunWriterCallback, jsoncodec, open_beamtime, replay
from resonance_callback import _sqlite as schema

from ..conftest import Captured, sql
from .test_run_queries_schema import database_at_version

Docs = list[tuple[str, dict[str, Any]]]
KEY = {"dtype": "array", "shape": [1, 3, 2], "source": "sim", "external": "STREAM:",
       "dtype_numpy": "|u1"}


def hdf5_run(path: Path, frames: np.ndarray, *, sres_uid: str = "sres-shared") -> Docs:
    """An ophyd-async style run reading ``frames`` from ``path``; its stream_resource uid fixed."""
    with h5py.File(path, "w") as f:
        f["/data"] = frames
    run = event_model.compose_run()
    descriptor = run.compose_descriptor(data_keys={"d": KEY}, name="primary")
    bundle = run.compose_stream_resource(mimetype="application/x-hdf5",
                                         uri=f"file://localhost{path}", data_key="d",
                                         parameters={"dataset": "/data"})
    sres = {**bundle.stream_resource_doc, "uid": sres_uid}
    datum = bundle.compose_stream_datum({"start": 0, "stop": len(frames)})
    datum.update(uid=f"{sres_uid}/0", stream_resource=sres_uid,
                 descriptor=descriptor.descriptor_doc["uid"],
                 seq_nums={"start": 1, "stop": len(frames) + 1})
    return [("start", run.start_doc), ("descriptor", descriptor.descriptor_doc),
            ("stream_resource", sres), ("stream_datum", datum), ("stop", run.compose_stop())]


def feed(db: Path, docs: Docs) -> None:
    with RunWriterCallback(db) as callback:
        for name, doc in docs:
            callback(name, doc)


def frames_of(db: Path, run_uid: str, field: str) -> dict[int, np.ndarray]:
    rows = sql(db, "SELECT e.seq_num, i.zarr_path, i.frame_index FROM image_refs i "
                   "JOIN events e ON e.uid = i.event_uid JOIN streams s ON s.uid = e.stream_uid "
                   "WHERE s.run_uid = ? AND i.field_name = ? ORDER BY e.seq_num",
               (run_uid, field))
    group = zarr.open_group(db.with_suffix(".zarr"), mode="r")
    return {seq: np.asarray(group[path][index]) for seq, path, index in rows}


def rejected(db: Path) -> list[tuple[str, str, str]]:
    return sql(db, "SELECT name, uid, reason FROM rejected_documents ORDER BY id")


def two_runs(tmp_path: Path) -> tuple[Docs, list[np.ndarray]]:
    frames = [np.arange(12, dtype="u1").reshape(2, 1, 3, 2) + 100 * n for n in range(2)]
    docs = [*hdf5_run(tmp_path / "a.h5", frames[0]), *hdf5_run(tmp_path / "b.h5", frames[1])]
    return docs, frames


def test_the_same_stream_resource_uid_in_two_runs_is_two_resources(tmp_path: Path) -> None:
    docs, frames = two_runs(tmp_path)
    db = tmp_path / "bt.db"
    feed(db, docs)
    assert rejected(db) == []
    assert sql(db, "SELECT count(*) FROM unresolved_frames") == [(0,)]
    runs = [doc["uid"] for name, doc in docs if name == "start"]
    for run_uid, expected in zip(runs, frames, strict=True):
        stored = frames_of(db, run_uid, "d")
        assert sorted(stored) == [1, 2]
        for seq, frame in stored.items():
            np.testing.assert_array_equal(frame, expected[seq - 1])
    kept = sql(db, "SELECT run_uid, name, uid FROM external_documents ORDER BY ordinal")
    assert kept == [(runs[0], "stream_resource", "sres-shared"),
                    (runs[0], "stream_datum", "sres-shared/0"),
                    (runs[1], "stream_resource", "sres-shared"),
                    (runs[1], "stream_datum", "sres-shared/0")]


def test_each_run_reads_back_its_own_stream_resource_document(tmp_path: Path) -> None:
    docs, _ = two_runs(tmp_path)
    db = tmp_path / "bt.db"
    feed(db, docs)
    sent = [doc["uri"] for name, doc in docs if name == "stream_resource"]
    with open_beamtime(db) as bt:
        read = [[doc["uri"] for name, doc in run.documents() if name == "stream_resource"]
                for run in bt.runs()]
    assert sorted(read) == sorted([uri] for uri in sent)


def test_the_same_resource_and_datum_ids_in_two_runs_fill_each_run_from_its_own_files(
        RE, tmp_path: Path) -> None:  # noqa: N803
    docs = Captured()
    for n in range(2):
        (tmp_path / f"npy{n}").mkdir()
        img = SynSignalWithRegistry(func=lambda n=n: np.full((3, 4), n + 1, dtype="u2"),
                                    name="img", save_path=str(tmp_path / f"npy{n}"))
        RE(bp.count([img], num=2), lambda name, doc: docs.append((name, copy.deepcopy(doc))))
    # The second run reuses the first run's resource uid and datum ids, as fixtures do.
    first, second = docs.of("resource")
    renamed = json.loads(json.dumps(docs).replace(second["uid"], first["uid"]))
    assert sum(1 for name, doc in renamed if name == "resource"
               and doc["uid"] == first["uid"]) == 2
    db = tmp_path / "bt.db"
    feed(db, [tuple(pair) for pair in renamed])
    assert rejected(db) == []
    runs = [doc["uid"] for name, doc in renamed if name == "start"]
    for n, run_uid in enumerate(runs):
        stored = frames_of(db, run_uid, "img")
        assert sorted(stored) == [1, 2]
        assert all((frame == n + 1).all() for frame in stored.values()), n


def test_a_stream_resource_received_twice_in_one_run_is_kept_once(tmp_path: Path) -> None:
    docs = hdf5_run(tmp_path / "a.h5", np.zeros((2, 1, 3, 2), dtype="u1"))
    docs.insert(3, copy.deepcopy(docs[2]))  # the same stream_resource again
    db = tmp_path / "bt.db"
    feed(db, docs)
    assert rejected(db) == []
    assert sql(db, "SELECT count(*) FROM external_documents WHERE name = 'stream_resource'") == [
        (1,)]
    assert sorted(frames_of(db, docs[0][1]["uid"], "d")) == [1, 2]


def test_other_content_under_a_stream_resource_uid_within_a_run_is_refused_naming_it(
        tmp_path: Path) -> None:
    docs = hdf5_run(tmp_path / "a.h5", np.zeros((2, 1, 3, 2), dtype="u1"))
    changed = {**docs[2][1], "uri": f"file://localhost{tmp_path}/elsewhere.h5"}
    docs.insert(3, ("stream_resource", changed))
    db = tmp_path / "bt.db"
    feed(db, docs)
    [(name, uid, reason)] = rejected(db)
    assert (name, uid) == ("stream_resource", "sres-shared")
    assert "stream_resource sres-shared is already stored with different content" in reason
    kept = sql(db, "SELECT document FROM external_documents WHERE name = 'stream_resource'")
    assert [jsoncodec.loads(d)["uri"] for (d,) in kept] == [docs[2][1]["uri"]]


def test_replaying_two_runs_sharing_a_resource_uid_again_changes_nothing(tmp_path: Path) -> None:
    docs, _ = two_runs(tmp_path)
    saved = tmp_path / "saved.jsonl"
    saved.write_text("".join(json.dumps([name, doc]) + "\n" for name, doc in docs))
    db = tmp_path / "bt.db"
    first = replay(saved, db)
    before = sql(db, "SELECT rowid, * FROM external_documents ORDER BY rowid")
    again = replay(saved, db)
    assert rejected(db) == []
    assert sql(db, "SELECT rowid, * FROM external_documents ORDER BY rowid") == before
    assert len(before) == 4
    assert (first.runs_added, first.rejected) == (2, 0)
    assert (again.runs_resumed, again.rejected, again.frames_added) == (2, 0, 0)


def test_a_version_5_beamtime_keeps_its_external_documents_when_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "v5.db"
    conn = database_at_version(db, "beamtime", 5)
    conn.execute("INSERT INTO runs (uid, time_start) VALUES ('run-a', 1.0)")
    for ordinal, (name, uid, run) in enumerate(
            [("resource", "r1", "run-a"), ("datum", "r1/0", "run-a"), ("resource", "r2", None)],
            start=1):
        conn.execute("INSERT INTO external_documents (name, uid, run_uid, ordinal, document) "
                     "VALUES (?, ?, ?, ?, ?)", (name, uid, run, ordinal * 10, f'{{"n":{ordinal}}}'))
    conn.execute("DELETE FROM external_documents WHERE uid = 'r1/0'")  # rowid 2 gone: kept so
    before = conn.execute("SELECT rowid, * FROM external_documents ORDER BY rowid").fetchall()
    conn.close()
    conn = schema.connect(db)  # a writer's open upgrades it
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.latest_version(
            "beamtime")
        assert conn.execute("SELECT rowid, * FROM external_documents ORDER BY rowid"
                            ).fetchall() == before
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # The same uid in another run is another row; again in the same run, or again
        # without a run, it is refused by the key.
        conn.execute("INSERT INTO external_documents (name, uid, run_uid, ordinal, document) "
                     "VALUES ('resource', 'r1', 'run-b', 40, '{}')")
        for run in ("run-a", None):
            uid = "r1" if run else "r2"
            try:
                conn.execute("INSERT INTO external_documents (name, uid, run_uid, ordinal, "
                             "document) VALUES ('resource', ?, ?, 50, '{}')", (uid, run))
            except sqlite3.IntegrityError:
                continue
            raise AssertionError(f"a second resource {uid} of run {run} was stored")
    finally:
        conn.close()
