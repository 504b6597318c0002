"""Readers never disturb the writer, and see only committed rows and stored frames."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky import plans as bp

from resonance_callback import (
    NotABeamtimeError,
    RunWriterCallback,
    StorageError,
    open_beamtime,
)

N_EVENTS = 150

WRITER_SCRIPT = textwrap.dedent(f"""
    import itertools, sys
    import numpy as np
    from bluesky import RunEngine, plans as bp
    from ophyd.sim import SynSignal, det
    from resonance_callback import RunWriterCallback

    values = itertools.count()
    cam = SynSignal(name="cam", func=lambda: np.full((32, 32), next(values), dtype=np.int32))
    RE = RunEngine({{}})
    with RunWriterCallback(sys.argv[1], commit_every=3, commit_interval=0.02) as callback:
        RE.subscribe(callback)
        RE(bp.count([cam, det], num={N_EVENTS}, delay=0.01))
    print("writer done")
""")


def _open_when_ready(db: Path, deadline: float) -> Any:
    while True:
        try:
            return open_beamtime(db)
        except (StorageError, NotABeamtimeError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_a_reader_polling_a_live_run_sees_only_resolvable_frames(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    writer = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(db)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial_views = 0
    frames_checked = 0
    try:
        bt = _open_when_ready(db, time.monotonic() + 60)
        with bt:
            while True:
                finished = writer.poll() is not None
                for run in bt.runs():
                    if "cam" not in run.image_fields():
                        continue
                    with bt.snapshot():  # table and frames from the same commit
                        table = run.table()
                        frames = run.images("cam")
                    n = len(frames)
                    assert n == len(table)  # frames are committed with their rows
                    partial_views += 0 < n < N_EVENTS
                    # every committed reference resolves to the frame written for it
                    first = int(frames[0][0, 0])
                    for i in range(n):
                        assert frames[i].shape == (32, 32)
                        assert int(frames[i][0, 0]) == first + i
                    frames_checked += n
                    events = [d for name, d in run.documents() if name == "event"]
                    assert all(isinstance(e["data"]["cam"], np.ndarray) for e in events)
                if finished:
                    break
                time.sleep(0.02)
            out, err = writer.communicate(timeout=60)
            assert writer.returncode == 0, err
            assert "writer done" in out
            assert "locked" not in err
            run = bt[-1]
            assert run.exit_status == "success"
            assert len(run.images("cam")) == len(run.table()) == N_EVENTS
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.communicate()
    assert partial_views > 0, "the reader never saw the run while it was being written"
    assert frames_checked > N_EVENTS


def test_an_open_reader_snapshot_never_blocks_the_writer(tmp_path: Path, RE: RunEngine,  # noqa: N803
                                                         sim: dict[str, Any]) -> None:
    db = tmp_path / "bt.db"
    with RunWriterCallback(db, threaded=False) as callback:
        RE.subscribe(callback)
        RE(bp.count([sim["det"]], num=2))
        with open_beamtime(db) as bt, bt.snapshot():
            assert len(bt) == 1
            started = time.monotonic()
            RE(bp.count([sim["det"]], num=50))  # commits while the reader holds a snapshot
            assert time.monotonic() - started < 30
            assert len(bt) == 1  # the snapshot does not see the new run...
        with open_beamtime(db) as bt:
            assert len(bt) == 2  # ...a fresh look does
            assert len(bt[-1].table()) == 50


def _digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "-" for p in paths]


def test_reading_leaves_the_database_and_frames_untouched(tmp_path: Path, RE: RunEngine,  # noqa: N803
                                                           sim: dict[str, Any]) -> None:
    db = tmp_path / "bt.db"
    with RunWriterCallback(db) as callback:
        RE.subscribe(callback)
        RE(bp.count([sim["direct_img"], sim["det"]], num=3))
    files = [db, *sorted(p for p in db.with_suffix(".zarr").rglob("*") if not p.is_dir())]
    before = _digest(files)
    wal = db.with_name("bt.db-wal")
    assert not wal.exists()  # the writer checkpointed and removed it at close
    with open_beamtime(db) as bt:
        run = bt[-1]
        list(run.documents())
        run.table()
        np.asarray(run.images("img"))
        with pytest.raises(StorageError, match="readonly|read-only|query_only|attempt to write"):
            bt.query("DELETE FROM runs")
    assert _digest(files) == before
    assert sorted(p for p in db.with_suffix(".zarr").rglob("*") if not p.is_dir()) == files[1:]
    # SQLite may leave an empty -wal (and its -shm index) behind a reader: no data in it
    assert not wal.exists() or wal.stat().st_size == 0
