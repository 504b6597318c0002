"""``repair`` is safe to run at once and touches only the beamtime's own files.

Two repairs at once (and writers opening meanwhile) take turns on the ``.writers``
folder's flock; a writer token that is not one is never a file name; a file that is
not already a beamtime is refused, not overwritten; every error is one line.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
import zarr
from click.testing import CliRunner

from resonance_callback.cli import main
from resonance_callback.errors import StorageError
from resonance_callback.read import check_beamtime
from resonance_callback.store import RunWriter, repair_beamtime

from ..conftest import sql
from .workers import DATA_KEYS, die_mid_run, write_frames

CTX = multiprocessing.get_context("spawn")
ROOT = Path(__file__).resolve().parents[2]
ORPHANS = 300


def killed_with_orphans(db_path: Path, uncommitted: int = ORPHANS) -> Path:
    """Run ``cut`` of a writer killed with 3 frames committed and ``uncommitted`` more."""
    process = CTX.Process(target=die_mid_run, args=(db_path, 3, uncommitted))
    process.start()
    process.join(120)
    assert process.exitcode == 0
    return db_path


def chunk_names(db_path: Path) -> list[str]:
    folder = db_path.with_suffix(".zarr") / "runs" / "cut" / "primary" / "img" / "c"
    return sorted(os.listdir(folder), key=int)


def repair_in_process(db_path: Path, barrier: Any, results: Any) -> None:
    """Repair ``db_path`` at the barrier; put ``(report dict, None)`` or ``(None, traceback)``."""
    try:
        barrier.wait()
        results.put((repair_beamtime(db_path).to_dict(), None))
    except BaseException:
        results.put((None, traceback.format_exc()))


def open_and_write(db_path: Path, name: str, barrier: Any, results: Any) -> None:
    """Open a writer at the barrier (which repairs first), store run ``name`` with 3 frames."""
    try:
        barrier.wait()
        with RunWriter(db_path, None) as writer:
            writer.open_run("count", uid=name)
            writer.open_stream("primary", DATA_KEYS)
            write_frames(writer, 3)
            writer.close_run(uid=name)
        results.put(({"writer": name}, None))
    except BaseException:
        results.put((None, traceback.format_exc()))


def race(db_path: Path, targets: list[tuple[Any, tuple[Any, ...]]]) -> list[dict[str, Any]]:
    """Start every target at one barrier in its own process; return their results."""
    barrier, results = CTX.Barrier(len(targets)), CTX.Queue()
    processes = [CTX.Process(target=t, args=(db_path, *args, barrier, results))
                 for t, args in targets]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(60)
    failures = [tb for _, tb in outcomes if tb is not None]
    assert failures == []
    return [report for report, _ in outcomes]


def test_repairs_at_once_all_finish_and_remove_each_orphan_once(tmp_path):
    db_path = killed_with_orphans(tmp_path / "bt.db")
    reports = race(db_path, [(repair_in_process, ())] * 4)
    assert sum(r["orphan_chunks"] for r in reports) == ORPHANS
    assert sorted(uid for r in reports for uid in r["interrupted"]) == ["cut"]
    assert chunk_names(db_path) == ["0", "1", "2"]
    array = zarr.open_group(db_path.with_suffix(".zarr"), mode="r")["runs/cut/primary/img"]
    assert array.shape == (3, 4, 4) and int(array[2][0, 0]) == 2
    assert not (tmp_path / "bt.db.writers").exists()  # the lock folder goes with the last


def test_writers_opening_while_repairs_run_lose_nothing(tmp_path):
    db_path = killed_with_orphans(tmp_path / "bt.db")
    race(db_path, [(repair_in_process, ()), (repair_in_process, ()),
                   (open_and_write, ("w1",)), (open_and_write, ("w2",))])
    assert sql(db_path, "SELECT uid, exit_status FROM runs ORDER BY uid") == [
        ("cut", "interrupted"), ("w1", "success"), ("w2", "success")]
    assert chunk_names(db_path) == ["0", "1", "2"]
    report = check_beamtime(db_path)
    assert report.bad_image_refs == [] and report.image_refs_checked == 9
    assert not (tmp_path / "bt.db.writers").exists()


def test_repair_waits_while_another_holds_the_beamtime(tmp_path):
    import fcntl

    db_path = killed_with_orphans(tmp_path / "bt.db", uncommitted=4)
    folder = tmp_path / "bt.db.writers"
    folder.mkdir(exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a repair in progress holds it
    try:
        command, options = cli("repair", str(db_path))
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, **options)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(3)
        assert sql(db_path, "SELECT exit_status FROM runs") == [(None,)]
        assert chunk_names(db_path) == [str(i) for i in range(7)]
    finally:
        os.close(fd)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "runs marked interrupted: 1" in out and "orphan chunk files removed: 4" in out


def test_run_whose_writer_token_is_not_one_is_marked_and_no_file_is_touched(tmp_path):
    db_path = tmp_path / "bt.db"
    writer = RunWriter(db_path, None)
    writer.open()
    writer.open_run("count", uid="open")
    writer.close()  # the run stays open
    victim = tmp_path / "victim.lock"
    victim.write_text("not ours")
    (tmp_path / "bt.db.writers").mkdir()
    token = str(victim)[:-len(".lock")]
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("UPDATE runs SET writer = ?", (token,))
        conn.execute("INSERT INTO writers VALUES (?, 1, 'host', 0)", (token,))
    conn.close()
    report = repair_beamtime(db_path)
    assert report.interrupted == ["open"]
    assert victim.read_text() == "not ours"
    (refused,) = report.refused
    assert refused["path"] == str(tmp_path / "bt.db.writers")
    assert repr(token) in refused["reason"] and "not one a writer makes" in refused["reason"]
    assert sql(db_path, "SELECT count(*) FROM writers") == [(0,)]
    assert repair_beamtime(db_path).refused == []  # the bad row is reported once


def test_a_writer_refuses_a_beamtime_whose_writers_folder_is_a_link(tmp_path):
    db_path = tmp_path / "bt.db"
    with RunWriter(db_path, None):
        pass
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "bt.db.writers").symlink_to(elsewhere)
    writer = RunWriter(db_path, None)
    with pytest.raises(StorageError, match=r"bt\.db\.writers is a symbolic link"):
        writer.open()
    assert os.listdir(elsewhere) == []


def cli(*args: str) -> tuple[list[str], dict[str, Any]]:
    """The command line of a real ``resonance-callback`` process, and its options."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    command = [sys.executable, "-c", "from resonance_callback.cli import main; main()", *args]
    return command, {"env": env}


def not_a_beamtime(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "bt.db"
    if kind == "directory":
        path.mkdir()
    elif kind == "missing":
        pass
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "fifo":
        os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["directory", "missing", "empty", "fifo"])
def test_repair_error_is_one_line_from_a_real_process(tmp_path, kind):
    path = not_a_beamtime(tmp_path, kind)
    command, options = cli("repair", str(path))
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, **options)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: ")
    assert str(path) in done.stderr


@pytest.mark.parametrize("kind", ["directory", "missing", "empty", "fifo"])
def test_repair_error_is_one_line_through_click(tmp_path, kind):
    path = not_a_beamtime(tmp_path, kind)
    result = CliRunner().invoke(main, ["repair", str(path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert str(path) in result.output


def test_repair_removes_no_frame_while_a_writer_is_alive(tmp_path):
    from .workers import hold_run_open

    db_path = tmp_path / "bt.db"
    ready, done = CTX.Event(), CTX.Event()
    process = CTX.Process(target=hold_run_open, args=(db_path, ready, done))
    process.start()
    try:
        assert ready.wait(60)
        killed_with_orphans(db_path, uncommitted=4)
        report = repair_beamtime(db_path)
        assert report.interrupted == ["cut"] and report.orphan_chunks == 0
        assert "1 writer(s) may be writing" in report.trim_deferred
        assert chunk_names(db_path) == [str(i) for i in range(7)]
    finally:
        done.set()
        process.join(60)
    again = repair_beamtime(db_path)  # the writer is gone: now the frames go
    assert again.orphan_chunks == 4 and chunk_names(db_path) == ["0", "1", "2"]
