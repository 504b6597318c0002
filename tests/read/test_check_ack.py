"""``check --ack``: known problems are acknowledged, a new one still fails the check."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import bluesky.plan_stubs as bps
import pytest
import zarr
from bluesky import RunEngine
from bluesky.plans import count, grid_scan
from click.testing import CliRunner
from ophyd.sim import det4, direct_img, motor1, motor2

from resonance_callback import RunWriterCallback
from resonance_callback.cli import main
from resonance_callback.read import acknowledge_problems, check_beamtime
from resonance_callback.store import repair_beamtime

from ..conftest import sql


def run_check(db_path: Path, *args: str):
    return CliRunner().invoke(main, ["check", str(db_path), *args])


def cut_short(RE: RunEngine, db_path: Path) -> str:
    """A real run whose writer goes away before the stop document, as in a crash."""
    callback = RunWriterCallback(db_path)
    token = RE.subscribe(callback)

    def plan():
        uid = yield from bps.open_run()
        yield from bps.trigger_and_read([det4, motor1, motor2])
        RE.unsubscribe(token)
        callback.close()  # the writer is gone: the run stays open
        yield from bps.close_run()
        return uid

    RE(plan())
    (uid,) = [u for (u,) in sql(db_path, "SELECT uid FROM runs WHERE exit_status IS NULL")]
    return uid


def reject_one(db_path: Path, uid: str) -> None:
    """One document the callback refuses (an event of no known descriptor), kept as rejected."""
    with RunWriterCallback(db_path) as callback:
        callback("event", {"uid": uid, "descriptor": "nowhere", "seq_num": 1, "time": 1.0,
                           "data": {}, "timestamps": {}})


@pytest.fixture
def known(RE: RunEngine, db_path: Path) -> tuple[Path, str]:
    """A grid scan of det4 over motor1/motor2, a run cut short (repaired: interrupted) and
    one rejected document; returns the beamtime and the interrupted run's uid."""
    with RunWriterCallback(db_path) as callback:
        RE(grid_scan([det4], motor1, -1, 1, 3, motor2, -1, 1, 2), callback)
    uid = cut_short(RE, db_path)
    assert repair_beamtime(db_path).interrupted == [uid]
    reject_one(db_path, "stray-1")
    return db_path, uid


def test_check_ack_records_what_it_found_and_exits_0_listing_it_as_acknowledged(known) -> None:
    db_path, uid = known
    assert run_check(db_path).exit_code == 1
    acked = run_check(db_path, "--ack")
    assert acked.exit_code == 0, acked.output
    assert "acknowledged (check --ack): 2, 2 just now" in acked.output
    again = run_check(db_path)
    assert again.exit_code == 0, again.output
    assert f"  interrupted_run {uid} (since " in again.output
    assert "  rejected_document: 1 (1 event)" in again.output
    assert again.output.rstrip().endswith("OK: no new problems, 2 acknowledged")


def test_a_new_interrupted_run_after_an_ack_fails_the_check(RE, known) -> None:
    db_path, uid = known
    acknowledge_problems(db_path)
    later = cut_short(RE, db_path)
    repair_beamtime(db_path)
    report = check_beamtime(db_path)
    assert not report.ok
    assert report.problems == ["1 run(s) interrupted"]
    assert [a["key"] for a in report.acknowledged] == [uid]
    result = run_check(db_path)
    assert result.exit_code == 1 and later in result.output


def test_a_new_rejected_document_after_an_ack_fails_the_check(known) -> None:
    db_path, _ = known
    acknowledge_problems(db_path)
    reject_one(db_path, "stray-2")
    report = check_beamtime(db_path)
    assert report.problems == ["1 rejected document(s)"]
    assert report.rejected_acknowledged == {"event": 1}
    assert run_check(db_path).exit_code == 1


def test_a_run_acknowledged_open_is_a_new_problem_once_repair_marks_it_interrupted(
        RE, db_path) -> None:
    uid = cut_short(RE, db_path)
    assert check_beamtime(db_path).problems == ["1 run(s) left open"]
    acknowledge_problems(db_path)
    assert check_beamtime(db_path).ok
    repair_beamtime(db_path)
    report = check_beamtime(db_path)
    assert report.problems == ["1 run(s) interrupted"]
    assert report.interrupted_runs[0]["uid"] == uid


def test_more_frames_lost_from_an_acknowledged_array_is_a_new_problem(RE, db_path) -> None:
    with RunWriterCallback(db_path) as callback:
        RE(count([det4, direct_img], 3), callback)
    (path,) = {p for (p,) in sql(db_path, "SELECT zarr_path FROM image_refs")}
    array = zarr.open_group(db_path.with_suffix(".zarr"), mode="r+")[path]
    array.resize((2, *array.shape[1:]))  # one frame lost, and acknowledged
    acknowledge_problems(db_path)
    assert check_beamtime(db_path).ok
    array.resize((1, *array.shape[1:]))  # one more lost: another problem
    report = check_beamtime(db_path)
    assert report.problems == ["2 image_refs row(s) pointing at no stored frame"]
    assert [a["kind"] for a in report.acknowledged] == []


def test_the_note_given_with_ack_is_in_the_json_of_later_checks(known) -> None:
    db_path, uid = known
    assert run_check(db_path, "--ack", "--note", "power cut on Monday").exit_code == 0
    report = json.loads(run_check(db_path, "--json").output)
    assert report["ok"] is True and report["problems"] == []
    assert [(a["kind"], a["key"], a["note"]) for a in report["acknowledged"]] == [
        ("interrupted_run", uid, "power cut on Monday")]
    assert report["rejected_acknowledged"] == {"event": 1}


def test_a_damaged_database_is_never_acknowledged_and_says_so_in_one_line(known) -> None:
    db_path, _ = known
    acknowledge_problems(db_path)  # the table exists: the refusal below is not for its lack
    conn = sqlite3.connect(db_path)  # a stream of no run: a foreign-key violation
    conn.execute("INSERT INTO streams (uid, run_uid, name, time, data_keys, configuration, "
                 "document) SELECT 'ghost', 'no-such-run', name, time, data_keys, "
                 "configuration, document FROM streams LIMIT 1")
    conn.commit()
    conn.close()
    rows = sql(db_path, "SELECT count(*) FROM acknowledged_problems")
    result = run_check(db_path, "--ack")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {db_path} is damaged (1 integrity message(s)): nothing acknowledged; "
        "run check to see them"]
    assert sql(db_path, "SELECT count(*) FROM acknowledged_problems") == rows


def test_note_without_ack_is_a_usage_error(known) -> None:
    db_path, _ = known
    result = run_check(db_path, "--note", "why")
    assert result.exit_code == 2 and "--note goes with --ack" in result.output
