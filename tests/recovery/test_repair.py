"""``repair`` after a dead writer: runs marked interrupted, orphan chunks removed, idempotent."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from importlib import resources
from pathlib import Path

import pytest
import zarr
from click.testing import CliRunner

from resonance_callback import _sqlite as schema
from resonance_callback.cli import main
from resonance_callback.read import check_beamtime
from resonance_callback.store import RunWriter, repair_beamtime

from ..conftest import sql
from .workers import DATA_KEYS, die_mid_run, hold_run_open, write_frames

CTX = multiprocessing.get_context("spawn")


def run_and_die(db_path: Path, committed: int = 3, uncommitted: int = 4) -> None:
    process = CTX.Process(target=die_mid_run, args=(db_path, committed, uncommitted))
    process.start()
    process.join(60)
    assert process.exitcode == 0


@pytest.fixture
def killed(tmp_path: Path) -> Path:
    """A beamtime whose writer died mid-run: 3 frames committed, 4 more on disk only."""
    db_path = tmp_path / "bt.db"
    run_and_die(db_path)
    return db_path


def chunk_files(db_path: Path) -> list[str]:
    folder = db_path.with_suffix(".zarr") / "runs" / "cut" / "primary" / "img" / "c"
    return sorted(p.name for p in folder.iterdir())


def test_run_of_a_dead_writer_is_left_open_by_a_writer_that_is_gone(killed):
    report = check_beamtime(killed)
    assert [(r["uid"], r["live"]) for r in report.open_runs] == [("cut", False)]
    assert report.problems == ["1 run(s) left open"]


def test_repair_marks_the_run_of_a_dead_writer_interrupted(killed):
    report = repair_beamtime(killed)
    assert report.interrupted == ["cut"]
    (status, reason), = sql(killed, "SELECT exit_status, reason FROM runs")
    assert status == "interrupted" and reason.startswith("writer pid ")


def test_repair_removes_frames_written_after_the_last_commit(killed):
    assert chunk_files(killed) == ["0", "1", "2", "3", "4", "5", "6"]
    report = repair_beamtime(killed)
    assert report.orphan_chunks == 4
    assert chunk_files(killed) == ["0", "1", "2"]
    array = zarr.open_group(killed.with_suffix(".zarr"), mode="r")["runs/cut/primary/img"]
    assert array.shape == (3, 4, 4) and int(array[2][0, 0]) == 2


def test_repair_twice_changes_nothing_the_second_time(killed):
    assert repair_beamtime(killed).changed
    again = repair_beamtime(killed)
    assert not again.changed and again.lines()[-1] == "nothing to repair"


def test_check_after_repair_reports_the_run_interrupted_and_every_frame_readable(killed):
    repair_beamtime(killed)
    report = check_beamtime(killed)
    assert report.open_runs == [] and [r["uid"] for r in report.interrupted_runs] == ["cut"]
    assert report.problems == ["1 run(s) interrupted"]
    assert report.bad_image_refs == [] and report.image_refs_checked == 3


def test_a_writer_opening_the_beamtime_marks_runs_of_dead_writers_interrupted(killed):
    with RunWriter(killed, None):
        pass
    assert sql(killed, "SELECT exit_status FROM runs") == [("interrupted",)]
    assert chunk_files(killed) == ["0", "1", "2"]


def test_run_being_written_by_a_live_process_is_live_and_left_alone(tmp_path):
    db_path = tmp_path / "bt.db"
    ready, done = CTX.Event(), CTX.Event()
    process = CTX.Process(target=hold_run_open, args=(db_path, ready, done))
    process.start()
    try:
        assert ready.wait(60)
        report = check_beamtime(db_path)
        assert [(r["uid"], r["live"]) for r in report.open_runs] == [("live", True)]
        assert report.ok
        assert repair_beamtime(db_path).interrupted == []
        with RunWriter(db_path, None):  # a second writer does not touch the first one's run
            pass
        assert sql(db_path, "SELECT exit_status FROM runs") == [(None,)]
    finally:
        done.set()
        process.join(60)
    assert sql(db_path, "SELECT exit_status FROM runs") == [("success",)]


def test_run_left_open_in_this_process_is_live_until_the_writer_closes(tmp_path):
    db_path = tmp_path / "bt.db"
    writer = RunWriter(db_path, None)
    writer.open()
    writer.open_run("count", uid="mine")
    writer.commit()
    assert [r["live"] for r in check_beamtime(db_path).open_runs] == [True]
    writer.close()  # closed with the run open: nobody will finish it
    assert [r["live"] for r in check_beamtime(db_path).open_runs] == [False]
    assert repair_beamtime(db_path).interrupted == ["mine"]


def test_status_filter_interrupted_selects_interrupted_runs(killed):
    repair_beamtime(killed)
    result = CliRunner().invoke(main, ["runs", str(killed), "--status", "interrupted"])
    assert result.exit_code == 0, result.output
    assert "cut" in result.output


def test_repair_command_reports_what_it_did_as_json(killed):
    result = CliRunner().invoke(main, ["repair", str(killed), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["interrupted"] == ["cut"] and report["orphan_chunks"] == 4


def test_check_reports_a_truncated_chunk_file(tmp_path):
    db_path = tmp_path / "bt.db"
    with RunWriter(db_path, None) as writer:
        writer.open_run("count", uid="run")
        writer.open_stream("primary", DATA_KEYS)
        write_frames(writer, 3)
        writer.close_run(uid="run")
    chunk = db_path.with_suffix(".zarr") / "runs/run/primary/img/c/1/0/0"
    chunk.write_bytes(chunk.read_bytes()[:5])
    report = check_beamtime(db_path)
    assert [(b["zarr_path"], b["rows"]) for b in report.bad_image_refs] == [
        ("runs/run/primary/img", 1)]
    assert "frame(s) 1 cannot be read back" in report.bad_image_refs[0]["problem"]


def test_check_reports_a_missing_chunk_file(tmp_path):
    db_path = tmp_path / "bt.db"
    with RunWriter(db_path, None) as writer:
        writer.open_run("count", uid="run")
        writer.open_stream("primary", DATA_KEYS)
        write_frames(writer, 3)
        writer.close_run(uid="run")
    (db_path.with_suffix(".zarr") / "runs/run/primary/img/c/2/0/0").unlink()
    report = check_beamtime(db_path)
    assert "frame(s) 2 cannot be read back" in report.bad_image_refs[0]["problem"]


def version_1_beamtime(path: Path) -> None:
    """A database made by the version-1 schema, with a closed run and an open one."""
    sql_1 = (resources.files("resonance_callback.store") / "sql" / "0001_initial.sql").read_text()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(sql_1)
    conn.execute(f"PRAGMA application_id = {schema.APPLICATION_IDS['beamtime']}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO samples (name) VALUES ('S')")
    conn.execute("INSERT INTO runs (uid, sample_id, time_start, time_stop, exit_status) "
                 "VALUES ('old', 1, 1.0, 2.0, 'success')")
    conn.execute("INSERT INTO runs (uid, sample_id, time_start) VALUES ('open', 1, 3.0)")
    conn.execute("INSERT INTO streams (uid, run_uid, name, data_keys) "
                 "VALUES ('s', 'old', 'primary', '{}')")
    conn.execute("INSERT INTO external_documents VALUES ('datum', 'd', 'old', 7, '{}')")
    conn.close()


def test_a_version_1_beamtime_is_upgraded_in_place_keeping_its_rows(tmp_path):
    db_path = tmp_path / "v1.db"
    version_1_beamtime(db_path)
    conn = schema.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.latest_version(
            "beamtime")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT uid, exit_status FROM runs ORDER BY uid").fetchall() == [
            ("old", "success"), ("open", None)]
        with pytest.raises(sqlite3.IntegrityError):  # streams still refer to runs
            conn.execute("DELETE FROM runs WHERE uid = 'old'")
    finally:
        conn.close()


def test_open_run_of_a_version_1_beamtime_is_interrupted_by_repair(tmp_path):
    db_path = tmp_path / "v1.db"
    version_1_beamtime(db_path)
    assert [r["live"] for r in check_beamtime(db_path).open_runs] == [False]
    assert repair_beamtime(db_path).interrupted == ["open"]


def test_external_documents_number_on_after_an_upgraded_beamtime(tmp_path):
    db_path = tmp_path / "v1.db"
    version_1_beamtime(db_path)
    from resonance_callback.store import ExternalRow

    with RunWriter(db_path, None) as writer:
        writer.record_external(ExternalRow("datum", "e", None, {}))
    assert sql(db_path, "SELECT uid, ordinal FROM external_documents ORDER BY ordinal") == [
        ("d", 7), ("e", 8)]


def test_show_gives_an_interrupted_run_its_status_and_reason(killed):
    repair_beamtime(killed)
    result = CliRunner().invoke(main, ["show", str(killed), "cut"])
    assert result.exit_code == 0, result.output
    assert "exit status: interrupted (writer pid " in result.output
