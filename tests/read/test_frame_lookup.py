"""One frame of a run is found from the field's span, not by listing the run's references."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from resonance_callback import DataLookupError, RunWriter, open_beamtime
from resonance_callback import _sqlite as schema
from resonance_callback.store import BeamtimeReader, run_queries

from ..store.test_run_queries_schema import database_at_version

T0 = 1_700_000_000.0
KEY = {"cam": {"dtype": "array", "shape": [2, 2], "source": "sim"}}


def write_frames(writer: RunWriter, run: str, seqs: list[int], *, descriptors: int = 1) -> None:
    """A run whose events ``seqs`` each have a frame full of its seq_num, in that order."""
    writer.open_run("count", uid=run, time=T0)
    per = -(-len(seqs) // descriptors)
    for i, seq in enumerate(seqs):
        if i % per == 0:
            writer.open_stream("primary", KEY, uid=f"{run}-d{i // per}", time=T0 + i)
        writer.write_event({}, {}, uid=f"{run}-e{seq}", time=T0 + seq, seq_num=seq)
        writer.write_image(f"{run}-e{seq}", "cam", np.full((2, 2), seq))
    writer.close_run()


def statements(bt: object) -> list[str]:
    """Start recording the SQL the beamtime's reader issues."""
    issued: list[str] = []
    bt._reader._conn.set_trace_callback(issued.append)  # type: ignore[attr-defined]
    return issued


def test_one_frame_is_read_without_reading_the_runs_frame_references(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    with RunWriter(db, None) as writer:
        write_frames(writer, "r1", list(range(1, 8)))
    with open_beamtime(db) as bt:
        run = bt["r1"]
        issued = statements(bt)
        frames = run.images("cam")
        assert int(frames[3][0, 0]) == 4
        assert not [s for s in issued if "image_refs" in s], issued
        assert len(frames) == 7 and frames.shape == (7, 2, 2)


def test_frames_at_the_edges_are_the_first_and_last_written(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    with RunWriter(db, None) as writer:
        write_frames(writer, "r1", list(range(1, 6)))
    with open_beamtime(db) as bt:
        frames = bt["r1"].images("cam")
        assert [int(frames[k][0, 0]) for k in (0, 4, -1, -5)] == [1, 5, 5, 1]
        assert frames[:, 1, 1].tolist() == [1, 2, 3, 4, 5]
        assert frames[3:, 0, 0].tolist() == [4, 5] and frames[::-2, 0, 0].tolist() == [5, 3, 1]
        for k in (5, -6):
            with pytest.raises(IndexError, match="out of range"):
                frames[k]


def test_frames_of_two_descriptors_in_one_array_are_one_span(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    with RunWriter(db, None) as writer:
        write_frames(writer, "r1", list(range(1, 7)), descriptors=2)
    with BeamtimeReader(db) as reader:
        path, first, n = run_queries.frame_span(reader, "r1", "primary", "cam") or ("", 0, 0)
        assert (first, n) == (0, 6) and path.endswith("/primary/cam")
    with open_beamtime(db) as bt:
        assert bt["r1"].images("cam")[:, 0, 0].tolist() == [1, 2, 3, 4, 5, 6]


def test_frames_written_out_of_seq_order_are_listed_and_read_in_table_order(
        tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    with RunWriter(db, None) as writer:
        write_frames(writer, "r1", [1, 3, 2, 4])
    with BeamtimeReader(db) as reader:
        assert run_queries.frame_span(reader, "r1", "primary", "cam") is None
    with open_beamtime(db) as bt:
        frames = bt["r1"].images("cam")
        assert frames[:, 0, 0].tolist() == [1, 2, 3, 4]
        assert [int(frames[k][0, 0]) for k in (0, -1)] == [1, 4]


def test_removing_a_frame_other_than_the_last_falls_back_to_listing(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    with RunWriter(db, None) as writer:
        write_frames(writer, "r1", [1, 2, 3, 4])
    conn = schema.connect(db, "beamtime")
    with schema.transaction(conn):
        conn.execute("DELETE FROM image_refs WHERE event_uid = 'r1-e4'")  # the last: still a span
    with BeamtimeReader(db) as reader:
        assert run_queries.frame_span(reader, "r1", "primary", "cam") == (
            run_queries.image_rows(reader, "r1", "primary", "cam")[0][0], 0, 3)
    with schema.transaction(conn):
        conn.execute("DELETE FROM image_refs WHERE event_uid = 'r1-e2'")
    conn.close()
    with BeamtimeReader(db) as reader:
        assert run_queries.frame_span(reader, "r1", "primary", "cam") is None
    with open_beamtime(db) as bt:
        assert bt["r1"].images("cam")[:, 0, 0].tolist() == [1, 3]


def test_a_frame_is_read_by_its_event_uid(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    with RunWriter(db, None) as writer:
        write_frames(writer, "r1", [1, 2, 3])
        write_frames(writer, "r2", [1, 2])
    with open_beamtime(db) as bt:
        run = bt["r1"]
        assert [int(run.event_frame(f"r1-e{s}", "cam")[0, 0]) for s in (1, 3)] == [1, 3]
        for uid, field in (("r2-e1", "cam"), ("r1-e1", "other"), ("nope", "cam")):
            with pytest.raises(DataLookupError, match=uid):
                run.event_frame(uid, field)


def test_a_version_6_beamtime_gets_the_spans_of_its_frames_when_upgraded(
        tmp_path: Path) -> None:
    db = tmp_path / "v6.db"
    conn = database_at_version(db, "beamtime", 6)
    conn.execute("INSERT INTO runs (uid, time_start) VALUES ('run-a', 1.0)")
    for stream in ("s-in", "s-out"):
        conn.execute("INSERT INTO streams (uid, run_uid, name, data_keys) VALUES (?, 'run-a', ?, "
                     "'{}')", (stream, stream))
    for stream, order in (("s-in", [1, 2, 3]), ("s-out", [2, 1, 3])):
        for index, seq in enumerate(order):
            conn.execute("INSERT INTO events (uid, stream_uid, seq_num, time, data, timestamps) "
                         "VALUES (?, ?, ?, 1.0, '{}', '{}')", (f"{stream}-{seq}", stream, seq))
            conn.execute("INSERT INTO image_refs (event_uid, field_name, zarr_path, frame_index, "
                         "compression_codec) VALUES (?, 'cam', ?, ?, 'zstd')",
                         (f"{stream}-{seq}", f"runs/run-a/{stream}/cam", index))
    conn.commit()
    conn.close()
    conn = schema.connect(db, "beamtime")  # a writer's open upgrades it
    try:
        assert conn.execute("SELECT stream_uid, frames, first_seq, last_seq, first_index, "
                            "last_index, in_order FROM frame_spans ORDER BY stream_uid"
                            ).fetchall() == [("s-in", 3, 1, 3, 0, 2, 1),
                                             ("s-out", 3, 1, 3, 0, 2, 0)]
        assert conn.execute("SELECT count(*) FROM image_refs WHERE stream_uid || '-' || seq_num "
                            "= event_uid").fetchone() == (6,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    with contextlib.closing(sqlite3.connect(db)) as plain:
        assert plain.execute("PRAGMA user_version").fetchone()[0] == (
            schema.latest_version("beamtime"))


def test_a_version_6_beamtime_opened_read_only_reads_its_frames_through_the_references(
        tmp_path: Path) -> None:
    import zarr

    db = tmp_path / "v6.db"
    conn = database_at_version(db, "beamtime", 6)
    conn.execute("INSERT INTO runs (uid, time_start) VALUES ('run-a', 1.0)")
    conn.execute("INSERT INTO streams (uid, run_uid, name, data_keys) "
                 "VALUES ('d1', 'run-a', 'primary', '{}')")
    for seq in (1, 2, 3):
        conn.execute("INSERT INTO events (uid, stream_uid, seq_num, time, data, timestamps) "
                     "VALUES (?, 'd1', ?, 1.0, '{}', '{}')", (f"e{seq}", seq))
        conn.execute("INSERT INTO image_refs (event_uid, field_name, zarr_path, frame_index, "
                     "compression_codec) VALUES (?, 'cam', 'runs/run-a/primary/cam', ?, 'zstd')",
                     (f"e{seq}", seq - 1))
    conn.commit()
    conn.close()
    group = zarr.open_group(str(tmp_path / "v6.zarr"), mode="w")
    group.create_array("runs/run-a/primary/cam", shape=(3, 2, 2), chunks=(1, 2, 2),
                       dtype="int64")[:] = np.stack([np.full((2, 2), s) for s in (1, 2, 3)])
    with open_beamtime(db) as bt:
        run = bt["run-a"]
        assert run.image_fields() == ["cam"]
        assert run.images("cam")[:, 0, 0].tolist() == [1, 2, 3]
        assert int(run.event_frame("e3", "cam")[1, 1]) == 3
    with contextlib.closing(sqlite3.connect(db)) as plain:  # read, not upgraded
        assert plain.execute("PRAGMA user_version").fetchone()[0] == 6
