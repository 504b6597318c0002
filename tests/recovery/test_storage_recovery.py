"""After a storage failure, the next scan is stored: a real RunEngine, one long-lived callback.

The database or the Zarr store is deleted, replaced or made read-only, or the
disk fills up, under a callback subscribed to a RunEngine. The scan in flight
gets one StorageError naming the path and is logged once as partial; the next
scan is stored (in the beamtime reopened at its path, or in a new one beside
it), one warning says where, and no later scan aborts.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.plans import count
from ophyd import Signal
from ophyd.sim import hw

from resonance_callback import RunWriterCallback, open_beamtime
from resonance_callback.errors import StorageError

from ..conftest import sql
from ..mounts import mounted


@pytest.fixture
def devices() -> Any:
    return hw()


@pytest.fixture
def RE() -> Iterator[RunEngine]:  # noqa: N802 - bluesky's name for it
    engine = RunEngine({})
    yield engine
    if engine.state != "idle":
        engine.halt()


def _warnings(caplog: pytest.LogCaptureFixture, word: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "resonance_callback" and r.levelno == logging.WARNING
            and word in r.getMessage()]


def _stored(db: Path, uid: str, stream: str = "primary") -> tuple[str | None, int]:
    with open_beamtime(db) as bt:
        run = bt[uid]
        return run.exit_status, sum(1 for n, _ in run.documents() if n == "event")


def _cut_mid_scan(devices: Any, cut: Any) -> Any:
    """Three points, ``cut()`` (the storage fails), three more."""
    @bpp.run_decorator(md={"purpose": "cut"})
    def plan() -> Any:
        for _ in range(3):
            yield from bps.trigger_and_read([devices.det])
        cut()
        for _ in range(3):
            yield from bps.trigger_and_read([devices.det])
    return plan()


@pytest.mark.parametrize("threaded", [True, False], ids=["threaded", "inline"])
def test_database_deleted_between_scans_the_next_scan_is_stored_in_a_new_beamtime_at_its_path(
        threaded: bool, RE: RunEngine, devices: Any, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "bt.db"
    with RunWriterCallback(db, threaded=threaded) as callback:
        RE.subscribe(callback)
        RE(count([devices.det], 2))
        db.unlink()
        with caplog.at_level(logging.WARNING, logger="resonance_callback"):
            (uid,) = RE(count([devices.det], 3))
            later = [RE(count([devices.det], 1))[0] for _ in range(3)]
    assert _stored(db, uid) == ("success", 3)
    assert all(_stored(db, u) == ("success", 1) for u in later)
    [warning] = _warnings(caplog, "reopened")
    assert f"{db} was deleted" in warning and f"a new beamtime at {db}" in warning
    assert sql(db, "SELECT count(*) FROM runs") == [(4,)]


def test_database_deleted_mid_scan_reports_that_run_partial_once_and_later_scans_are_stored(
        RE: RunEngine, devices: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "bt.db"
    starts: list[str] = []
    RE.subscribe(lambda name, doc: starts.append(doc["uid"]), "start")
    with RunWriterCallback(db) as callback:
        RE.subscribe(callback)
        with caplog.at_level(logging.WARNING, logger="resonance_callback"):
            with pytest.raises(StorageError, match=f"{db} was deleted"):
                RE(_cut_mid_scan(devices, db.unlink))
            cut = starts[-1]
            later = [RE(count([devices.det], 2))[0] for _ in range(3)]
    errors = [r.getMessage() for r in caplog.records
              if r.name == "resonance_callback" and r.levelno == logging.ERROR]
    assert sum(f"run(s) {cut} in flight are partial" in e for e in errors) == 1
    assert len(_warnings(caplog, "reopened")) == 1
    assert all(_stored(db, u) == ("success", 2) for u in later)
    assert sql(db, "SELECT count(*) FROM runs WHERE uid = ?", (cut,)) == [(0,)]


@pytest.mark.parametrize("replacement", ["another application's database", "a directory"])
def test_database_replaced_by_what_is_no_beamtime_the_next_scan_goes_to_a_new_one_beside_it(
        replacement: str, RE: RunEngine, devices: Any, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "bt.db"
    with RunWriterCallback(db) as callback:
        RE.subscribe(callback)
        RE(count([devices.det], 2))
        db.unlink()
        if replacement == "a directory":
            db.mkdir()
        else:
            import sqlite3
            with contextlib.closing(sqlite3.connect(db)) as conn:
                conn.execute("CREATE TABLE theirs (a)")
                conn.commit()
        before = sorted(p.name for p in db.iterdir()) if db.is_dir() else db.read_bytes()
        with caplog.at_level(logging.WARNING, logger="resonance_callback"):
            (uid,) = RE(count([devices.det], 3))
            (later,) = RE(count([devices.det], 1))
        recovered = callback.db_path
    assert recovered.parent == tmp_path and recovered.name.startswith("bt.recovered-")
    assert recovered.suffix == ".db" and recovered.with_suffix(".zarr").is_dir()
    assert _stored(recovered, uid) == ("success", 3) and _stored(recovered, later)[1] == 1
    [warning] = _warnings(caplog, "reopened")
    assert f"a new beamtime beside it, {recovered}" in warning
    after = sorted(p.name for p in db.iterdir()) if db.is_dir() else db.read_bytes()
    assert after == before  # what is at the path is never written to


def _image_scan(img: Signal, n: int) -> Any:
    return count([img], n)


def test_zarr_store_deleted_the_next_scan_stores_its_frames_in_the_beamtime_at_its_path(
        RE: RunEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "bt.db"
    img = Signal(name="img", value=np.full((8, 8), 3, dtype=np.uint16))
    with RunWriterCallback(db) as callback:
        RE.subscribe(callback)
        (first,) = RE(_image_scan(img, 2))
        shutil.rmtree(db.with_suffix(".zarr"))
        with caplog.at_level(logging.WARNING, logger="resonance_callback"):
            (uid,) = RE(_image_scan(img, 3))
    with open_beamtime(db) as bt:
        assert [int(np.asarray(f).sum()) for f in bt[uid].images("img")] == [192] * 3
        assert first in bt  # the rows of the earlier run are kept (its frames were deleted)
    [warning] = _warnings(caplog, "reopened")
    assert "bt.zarr was deleted" in warning and f"the beamtime at {db}" in warning


def test_zarr_store_made_read_only_mid_scan_the_next_scan_goes_to_a_new_beamtime_beside_it(
        RE: RunEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    real, view = tmp_path / "real", tmp_path / "view"
    real.mkdir()
    view.mkdir()
    db = tmp_path / "bt.db"
    img = Signal(name="img", value=np.full((8, 8), 3, dtype=np.uint16))

    def read_only() -> None:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)

    @bpp.run_decorator()
    def cut_scan() -> Any:
        yield from bps.trigger_and_read([img])
        yield from bps.sleep(0.8)  # committed: one frame is in the Zarr store
        read_only()
        for _ in range(3):
            yield from bps.trigger_and_read([img])

    with mounted(["mount", "--bind", str(real), str(view)], target=view):
        with RunWriterCallback(db, zarr_store=view / "bt.zarr") as callback:
            RE.subscribe(callback)
            with caplog.at_level(logging.WARNING, logger="resonance_callback"):
                with pytest.raises(StorageError, match=str(view / "bt.zarr")):
                    RE(cut_scan())
                (uid,) = RE(_image_scan(img, 2))
                (later,) = RE(_image_scan(img, 1))
            recovered = callback.db_path
    assert recovered.parent == tmp_path and recovered.name.startswith("bt.recovered-")
    with open_beamtime(recovered) as bt:
        assert len(bt[uid].images("img")) == 2 and len(bt[later].images("img")) == 1
    [warning] = _warnings(caplog, "reopened")
    assert "is not writable" in warning and "beside it" in warning
    assert sql(db, "SELECT count(*) FROM image_refs") == [(1,)]  # what was committed, kept


def test_full_disk_fails_the_scans_until_space_is_freed_then_the_next_scan_is_stored(
        RE: RunEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    db = disk / "bt.db"
    img = Signal(name="img", value=np.random.default_rng(0).integers(0, 2**16, (64, 64),
                                                                     dtype=np.uint16))
    with mounted(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], target=disk):
        with RunWriterCallback(db, codec="none") as callback:
            RE.subscribe(callback)
            (kept,) = RE(_image_scan(img, 2))
            filler = disk / "filler"
            with contextlib.suppress(OSError), filler.open("wb") as f:
                while True:  # fill what is left of the disk
                    f.write(b"\0" * 65536)
                    f.flush()
            with caplog.at_level(logging.WARNING, logger="resonance_callback"):
                with pytest.raises(StorageError, match=str(disk)):
                    RE(_image_scan(img, 20))
                with pytest.raises(StorageError):  # still full: one clear error, no hang
                    RE(_image_scan(img, 1))
                filler.unlink()
                (uid,) = RE(_image_scan(img, 2))
                (later,) = RE(_image_scan(img, 1))
            assert callback.db_path == db
        assert _stored(db, uid) == ("success", 2) and _stored(db, later) == ("success", 1)
        assert _stored(db, kept) == ("success", 2)
    assert len(_warnings(caplog, "reopened")) == 1


def test_database_deleted_under_an_open_run_then_closed_reports_the_run_partial_once(
        RE: RunEngine, devices: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "bt.db"
    callback = RunWriterCallback(db)
    RE.subscribe(callback)
    RE(count([devices.det], 2))

    @bpp.run_decorator()
    def left_open() -> Any:  # the session ends with this run open: close() comes first
        yield from bps.trigger_and_read([devices.det])
        db.unlink()
        with caplog.at_level(logging.WARNING, logger="resonance_callback"):
            callback.close()  # no exception: there is nothing left to write to
        yield from bps.null()

    starts: list[str] = []
    RE.subscribe(lambda name, doc: starts.append(doc["uid"]), "start")
    with pytest.raises(StorageError, match="closed"):  # its stop comes to a closed callback
        RE(left_open())
    errors = [r.getMessage() for r in caplog.records
              if r.name == "resonance_callback" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and f"run(s) {starts[-1]} in flight are partial" in errors[0]


def test_runs_stored_in_a_beamtime_beside_are_indexed_there(
        RE: RunEngine, devices: Any, tmp_path: Path) -> None:
    from resonance_callback import RunIndexer, search

    db, index_path = tmp_path / "bt.db", tmp_path / "index.db"
    indexer = RunIndexer(index_path, "Alice", tmp_path, "2026-11", db)
    with RunWriterCallback(db, index=indexer) as callback:
        RE.subscribe(callback)
        (first,) = RE(count([devices.det], 2))
        db.unlink()
        db.mkdir()  # the path can no longer be a beamtime: later runs go beside it
        (uid,) = RE(count([devices.det], 3))
        recovered = callback.db_path
    by_uid = {r.uid: r for r in search(index_path)}
    assert by_uid[first].db_path == db.resolve()
    assert by_uid[uid].db_path == recovered.resolve() != db.resolve()
    assert by_uid[uid].num_events == {"primary": 3} and by_uid[uid].exit_status == "success"
