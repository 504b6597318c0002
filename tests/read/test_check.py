"""``resonance-callback check``: exit 0 for a sound beamtime, 1 and a listing for each problem."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import bluesky.plans as bp
import pytest
import zarr
from click.testing import CliRunner
from ophyd.sim import det, direct_img

from resonance_callback import RunWriterCallback
from resonance_callback.cli import main
from resonance_callback.read import check_beamtime

from ..conftest import sql


def run_check(db_path: Path, *args: str):
    return CliRunner().invoke(main, ["check", str(db_path), *args])


@pytest.fixture
def beamtime(RE, db_path: Path) -> Path:
    """A sound beamtime: a run with three frames and a scalar detector."""
    with RunWriterCallback(db_path) as cb:
        RE(bp.count([det, direct_img], num=3), cb)
    return db_path


def raw(db_path: Path, statement: str, params: tuple = ()) -> None:
    """Change the file behind the library's back, as damage would."""
    conn = sqlite3.connect(db_path)
    try:
        conn.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def test_sound_beamtime_exits_0_and_says_ok(beamtime):
    result = run_check(beamtime)
    assert result.exit_code == 0, result.output
    assert "image_refs: 3 checked, 0 bad" in result.output
    assert result.output.rstrip().endswith("OK: no problems found")


def test_json_report_of_a_sound_beamtime(beamtime):
    result = run_check(beamtime, "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["ok"] is True and report["problems"] == []
    assert report["image_refs_checked"] == 3 and report["integrity"] == []


def test_run_left_open_is_listed_and_exits_1(RE, db_path):
    cb = RunWriterCallback(db_path)
    RE(bp.count([det], num=1), cb)
    start = {"uid": "open-run", "time": 1.0, "plan_name": "interrupted"}
    cb("start", start)
    cb.close()  # no stop: the run stays open, as after a crash
    result = run_check(db_path, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert [r["uid"] for r in report["open_runs"]] == ["open-run"]
    assert report["problems"] == ["1 run(s) left open"]
    assert "run open-run interrupted started" in run_check(db_path).output


def test_rejected_documents_are_counted_and_exit_1(RE, db_path):
    with RunWriterCallback(db_path) as cb:
        RE(bp.count([det], num=1), cb)
        cb("bogus", {"uid": "x"})
        cb("event", {"uid": "y"})
    result = run_check(db_path)
    assert result.exit_code == 1
    assert "rejected documents: 2 (1 bogus, 1 event)" in result.output


def test_image_refs_beyond_the_array_are_reported(beamtime):
    (path,) = {p for (p,) in sql(beamtime, "SELECT zarr_path FROM image_refs")}
    array = zarr.open_group(beamtime.with_suffix(".zarr"), mode="r+")[path]
    array.resize((1, *array.shape[1:]))  # two frames lost
    report = check_beamtime(beamtime)
    assert not report.ok
    assert report.bad_image_refs == [{"zarr_path": path, "rows": 2,
                                      "problem": "frame_index beyond the array's 1 frame(s)"}]
    assert run_check(beamtime).exit_code == 1


def test_missing_zarr_store_is_reported_for_every_reference(beamtime):
    shutil.rmtree(beamtime.with_suffix(".zarr"))
    result = run_check(beamtime, "--json")
    assert result.exit_code == 1
    [bad] = json.loads(result.output)["bad_image_refs"]
    assert bad["rows"] == 3 and bad["problem"] == "no such array in the Zarr store"


def test_store_elsewhere_is_found_with_the_zarr_option(beamtime, tmp_path):
    moved = tmp_path / "elsewhere.zarr"
    shutil.move(beamtime.with_suffix(".zarr"), moved)
    assert run_check(beamtime).exit_code == 1
    assert run_check(beamtime, "--zarr", str(moved)).exit_code == 0


def test_image_ref_to_a_missing_event_is_reported(beamtime):
    raw(beamtime, "INSERT INTO image_refs (event_uid, field_name, zarr_path, frame_index, "
                  "compression_codec) SELECT 'ghost', field_name, zarr_path, 0, "
                  "compression_codec FROM image_refs LIMIT 1")
    report = check_beamtime(beamtime)
    assert report.bad_image_refs[0]["problem"] == "no events row with this event_uid"
    assert run_check(beamtime).exit_code == 1


def test_file_that_is_not_a_beamtime_fails_with_one_line(tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("not sqlite at all " * 100)
    result = run_check(bogus)
    assert result.exit_code == 1
    assert "notes.db" in result.output and len(result.output.strip().splitlines()) == 1
