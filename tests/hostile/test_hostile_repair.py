"""Hostile beamtimes for ``repair``: it touches only the beamtime's own files.

Each case plants one trap in or beside a beamtime (a writer token that is a path, a
link out of the beamtime, a lock file that is a fifo, a file that is not a beamtime)
and runs ``resonance-callback repair --json`` as a real process, under a generous
timeout. Nothing stored changes (the beamtime's dump before and after), nothing
outside the beamtime changes (every file under ``outside/``, byte for byte), and the
trap is reported: refused with its path and reason (exit 1), or one error line.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zarr

from resonance_callback.store import RunWriter, repair_beamtime
from tests.beamtime_dump import dump_beamtime
from tests.recovery.workers import DATA_KEYS, die_mid_run, write_frames

CTX = multiprocessing.get_context("spawn")
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "0123456789abcdef0123456789abcdef"
IMG = Path("runs/cut/primary/img")


def run_repair(db_path: Path) -> subprocess.CompletedProcess[str]:
    """``resonance-callback repair DB --json`` in a process of its own (bounded in time)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run(
        [sys.executable, "-c", "from resonance_callback.cli import main; main()",
         "repair", str(db_path), "--json"],
        capture_output=True, text=True, timeout=120, env=env)


def snapshot(folder: Path) -> dict[str, Any]:
    """Every entry under ``folder`` (links as links, not followed): its bytes or target."""
    out: dict[str, Any] = {}
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(top) / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                out[key] = ("link", os.readlink(path))
            elif path.is_file():
                out[key] = path.read_bytes()
            elif path.is_dir():
                out[key] = "dir"
            else:
                out[key] = "other"
    return out


@pytest.fixture
def beamtime(tmp_path: Path) -> Path:
    """``bt.db``: run ``kept`` (closed, 2 frames) and run ``cut`` (killed, repaired once).

    ``outside/`` beside it stands for everything that is not the beamtime's.
    """
    db_path = tmp_path / "bt.db"
    with RunWriter(db_path, None) as writer:
        writer.open_run("count", uid="kept")
        writer.open_stream("primary", DATA_KEYS)
        write_frames(writer, 2)
        writer.close_run(uid="kept")
    process = CTX.Process(target=die_mid_run, args=(db_path, 3, 4))
    process.start()
    process.join(120)
    assert process.exitcode == 0
    assert repair_beamtime(db_path).interrupted == ["cut"]
    (tmp_path / "outside").mkdir()
    return db_path


def store_of(db_path: Path) -> Path:
    return db_path.with_suffix(".zarr")


def add_writer_row(db_path: Path, token: str, run: str | None = None) -> None:
    """A ``writers`` row for ``token`` (and run ``run`` left open by it)."""
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute("INSERT INTO writers VALUES (?, 4242, 'elsewhere', 0)", (token,))
        if run is not None:
            conn.execute("INSERT INTO runs (uid, sample_id, time_start, writer) "
                         "SELECT ?, sample_id, 9e9, ? FROM runs WHERE uid = 'kept'",
                         (run, token))
    conn.close()


# -- the traps: each returns the path that must be named with its reason -----------


def token_relative(db: Path, outside: Path) -> str:
    (outside / "victim.lock").write_text("not the beamtime's")
    (db.parent / "bt.db.writers").mkdir(exist_ok=True)  # a writer's folder, as while one writes
    add_writer_row(db, "../outside/victim")
    return "'../outside/victim' is not one a writer makes"


def token_absolute(db: Path, outside: Path) -> str:
    (outside / "victim.lock").write_text("not the beamtime's")
    add_writer_row(db, str(outside / "victim"))
    return f"{str(outside / 'victim')!r} is not one a writer makes"


def token_with_a_newline(db: Path, outside: Path) -> str:
    (outside / "victim.lock").write_text("not the beamtime's")
    (db.parent / "bt.db.writers").mkdir(exist_ok=True)
    add_writer_row(db, f"{TOKEN}\n/../../outside/victim")
    return "\\n/../../outside/victim' is not one a writer makes"


def writers_folder_is_a_link(db: Path, outside: Path) -> str:
    (outside / f"{TOKEN}.lock").write_text("another beamtime's writer lock")
    (db.parent / "bt.db.writers").symlink_to(outside)
    add_writer_row(db, TOKEN)
    return "bt.db.writers is a symbolic link"


def lock_file_is_a_link(db: Path, outside: Path) -> str:
    (outside / "held").write_text("a lock held by someone else")
    (db.parent / "bt.db.writers").mkdir(exist_ok=True)
    (db.parent / "bt.db.writers" / f"{TOKEN}.lock").symlink_to(outside / "held")
    add_writer_row(db, TOKEN, run="open")  # left open: nobody can tell if it is live
    return f"{TOKEN}.lock is a symbolic link"


def lock_file_is_a_fifo(db: Path, outside: Path) -> str:
    (db.parent / "bt.db.writers").mkdir(exist_ok=True)
    os.mkfifo(db.parent / "bt.db.writers" / f"{TOKEN}.lock")
    add_writer_row(db, TOKEN, run="open")
    return f"{TOKEN}.lock is not a regular file"


def _orphan_chunk(store: Path, index: int) -> None:
    chunks = store / IMG / "c"
    shutil.copytree(chunks / "2", chunks / str(index))


def store_is_a_link(db: Path, outside: Path) -> str:
    store = store_of(db)
    shutil.move(store, outside / "store.zarr")
    _orphan_chunk(outside / "store.zarr", 5)  # beyond the 3 committed frames
    store.symlink_to(outside / "store.zarr")
    return "bt.zarr is a symbolic link"


def chunk_folder_is_a_link(db: Path, outside: Path) -> str:
    chunks = store_of(db) / IMG / "c"
    shutil.move(chunks, outside / "c")
    shutil.copytree(outside / "c" / "2", outside / "c" / "7")
    chunks.symlink_to(outside / "c")
    return "img/c is a symbolic link"


def orphan_chunk_is_a_link(db: Path, outside: Path) -> str:
    chunks = store_of(db) / IMG / "c"
    shutil.copytree(chunks / "2", outside / "chunk")
    array = zarr.open_array(store_of(db) / IMG, mode="r+")
    array.resize((6, 4, 4))  # trimming back to 3 would delete chunk 5, through the link
    (chunks / "5").symlink_to(outside / "chunk")
    return "img/c/5 is a symbolic link"


TRAPS: list[Callable[[Path, Path], str]] = [
    token_relative, token_absolute, token_with_a_newline, writers_folder_is_a_link,
    lock_file_is_a_link, lock_file_is_a_fifo, store_is_a_link, chunk_folder_is_a_link,
    orphan_chunk_is_a_link]


@pytest.mark.parametrize("trap", TRAPS, ids=[t.__name__ for t in TRAPS])
def test_repair_refuses_the_trap_and_changes_nothing_inside_or_out(beamtime, trap):
    outside = beamtime.parent / "outside"
    reason = trap(beamtime, outside)
    stored, around = dump_beamtime(beamtime), snapshot(outside)
    done = run_repair(beamtime)
    assert done.returncode == 1, done.stderr
    if done.stdout:  # done, with the trap left alone and listed
        report = json.loads(done.stdout)
        assert not report["changed"]
        assert any(reason in f"{r['path']} {r['reason']}".replace("\n", "\\n")
                   for r in report["refused"]), report["refused"]
    else:  # refused as a whole
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: ")
        assert reason in done.stderr
    assert dump_beamtime(beamtime) == stored
    assert snapshot(outside) == around


def _not_a_beamtime(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "bt.db"
    if kind == "empty file":
        path.write_bytes(b"")
    elif kind == "link to an empty file":
        (tmp_path / "empty").write_bytes(b"")
        path.symlink_to(tmp_path / "empty")
    elif kind == "another application's database":
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE notes (text)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
        conn.commit()
        conn.close()
    elif kind == "text file":
        path.write_text("runs: none\n" * 100)
    elif kind == "directory":
        path.mkdir()
        (path / "inside").write_text("kept")
    elif kind == "fifo":
        os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", [
    "empty file", "link to an empty file", "another application's database", "text file",
    "directory", "fifo"])
def test_repair_refuses_what_is_not_a_beamtime_and_leaves_it_as_it_was(tmp_path, kind):
    path = _not_a_beamtime(tmp_path, kind)
    before = snapshot(tmp_path)
    done = run_repair(path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"Error: {path} ")
    assert "not a beamtime" in done.stderr
    assert snapshot(tmp_path) == before  # nothing written into it, nothing made beside it
