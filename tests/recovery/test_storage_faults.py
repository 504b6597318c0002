"""Storage that goes away or fills up under a writer: one StorageError naming the path."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from resonance_callback.errors import StorageError
from resonance_callback.read import check_beamtime
from resonance_callback.store import RunWriter

from ..conftest import sql
from ..mounts import mounted
from .workers import DATA_KEYS, write_frames


def started(db_path: Path, frames: int = 2) -> RunWriter:
    """A writer with run ``kept`` closed and run ``cut`` open with ``frames`` committed."""
    writer = RunWriter(db_path, None)
    writer.open()
    writer.open_run("count", uid="kept")
    writer.open_stream("primary", DATA_KEYS)
    write_frames(writer, 3)
    writer.close_run(uid="kept")
    writer.open_run("count", uid="cut")
    writer.open_stream("primary", DATA_KEYS)
    write_frames(writer, frames)
    writer.commit()
    return writer


def abandon(writer: RunWriter) -> None:
    with contextlib.suppress(StorageError):
        writer.close()


def test_database_deleted_under_a_writer_fails_the_next_commit_naming_it(tmp_path):
    db_path = tmp_path / "bt.db"
    writer = started(db_path)
    db_path.unlink()
    write_frames(writer, 1, start=2)
    with pytest.raises(StorageError, match=f"{db_path} was deleted"):
        writer.commit()
    abandon(writer)


def test_database_replaced_under_a_writer_fails_and_leaves_the_other_file_alone(tmp_path):
    db_path, other = tmp_path / "bt.db", tmp_path / "other.db"
    with RunWriter(other, None) as writer:
        writer.open_run("count", uid="theirs")
    writer = started(db_path)
    os.replace(other, db_path)
    write_frames(writer, 1, start=2)
    with pytest.raises(StorageError, match=f"{db_path} was replaced by another file"):
        writer.commit()
    abandon(writer)
    assert sql(db_path, "SELECT uid FROM runs") == [("theirs",)]


def test_zarr_store_deleted_under_a_writer_fails_the_next_commit_naming_it(tmp_path):
    db_path = tmp_path / "bt.db"
    writer = started(db_path)
    store = db_path.with_suffix(".zarr")
    shutil.rmtree(store)
    write_frames(writer, 1, start=2)
    with pytest.raises(StorageError, match=f"{store} was deleted"):
        writer.commit()
    abandon(writer)
    assert sql(db_path, "SELECT uid FROM runs ORDER BY time_start") == [("kept",), ("cut",)]


def test_full_disk_raises_one_storage_error_naming_the_path_and_keeps_what_was_committed(
        tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], target=disk):
        db_path = disk / "bt.db"
        writer = started(db_path)
        with pytest.raises(StorageError, match=str(disk)) as raised:
            for start in range(2, 100_000, 50):
                write_frames(writer, 50, start=start)  # 4x4 frames: the rows fill the disk
                writer.commit()
        assert "No space left" in str(raised.value) or "full" in str(raised.value)
        abandon(writer)
        assert sql(db_path, "SELECT uid FROM runs ORDER BY time_start") == [("kept",), ("cut",)]
        assert sql(db_path, "SELECT count(*) FROM image_refs")[0][0] >= 5
        report = check_beamtime(db_path)
        assert [r["uid"] for r in report.open_runs if not r["live"]] == ["cut"]
        assert report.bad_image_refs == []


def test_zarr_store_made_read_only_mid_run_raises_one_storage_error_naming_it(tmp_path):
    real, view = tmp_path / "real", tmp_path / "view"
    real.mkdir()
    view.mkdir()
    db_path = tmp_path / "bt.db"
    with mounted(["mount", "--bind", str(real), str(view)], target=view):
        writer = RunWriter(db_path, None, zarr_store=view / "bt.zarr")
        writer.open()
        writer.open_run("count", uid="cut")
        writer.open_stream("primary", DATA_KEYS)
        write_frames(writer, 2)
        writer.commit()
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        with pytest.raises(StorageError, match=str(view / "bt.zarr")):
            write_frames(writer, 3, start=2)
            writer.commit()
        abandon(writer)
    assert sql(db_path, "SELECT count(*) FROM image_refs") == [(2,)]
    report = check_beamtime(db_path, zarr_store=real / "bt.zarr")
    assert [r["uid"] for r in report.open_runs if not r["live"]] == ["cut"]
    assert report.bad_image_refs == []


def test_writer_on_a_read_only_mount_raises_one_storage_error_and_changes_nothing(tmp_path):
    real, view = tmp_path / "real", tmp_path / "view"
    real.mkdir()
    view.mkdir()
    with RunWriter(real / "bt.db", None) as writer:
        writer.open_run("count", uid="kept")
    before = (real / "bt.db").read_bytes()
    with mounted(["mount", "--bind", str(real), str(view)],
                 ["mount", "-o", "remount,bind,ro", str(view)], target=view):
        with pytest.raises(StorageError, match=str(view / "bt.db")):
            RunWriter(view / "bt.db", None).open()
    assert (real / "bt.db").read_bytes() == before
