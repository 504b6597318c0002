"""A writer process killed with SIGKILL mid-scan keeps everything committed before it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ..conftest import sql

CHILD = textwrap.dedent(
    """
    import sys
    from bluesky import RunEngine
    from bluesky.plans import count
    from ophyd.sim import det, direct_img
    from resonance_callback import RunWriterCallback

    RE = RunEngine({})
    cb = RunWriterCallback(sys.argv[1])
    RE.subscribe(cb)
    RE(count([det, direct_img], num=5))          # an earlier, complete run

    def report(name, doc):
        if name == "event":
            print(doc["uid"], doc["time"], flush=True)

    RE.subscribe(report)
    print("SCANNING", flush=True)
    RE(count([det, direct_img], num=100000, delay=0.02))
    """
)


def test_sigkill_mid_scan_keeps_every_event_older_than_a_second(tmp_path: Path) -> None:
    db_path = tmp_path / "killed.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db_path)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "SCANNING"
    emitted: list[tuple[str, float]] = []
    started = time.time()
    while time.time() - started < 3.0:
        uid, when = child.stdout.readline().split()
        emitted.append((uid, float(when)))
    os.kill(child.pid, signal.SIGKILL)
    killed_at = time.time()
    child.wait()
    child.stdout.close()

    conn = sqlite3.connect(db_path)  # opens, and recovers the WAL
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    stored = {uid for (uid,) in sql(db_path, "SELECT uid FROM events")}
    old_enough = [uid for uid, when in emitted if when < killed_at - 1.0]
    assert len(old_enough) > 50
    assert [uid for uid in old_enough if uid not in stored] == []
    # The earlier run is intact and closed; the killed one is open (exit_status NULL).
    assert sql(db_path, "SELECT exit_status FROM runs ORDER BY time_start") == [
        ("success",), (None,)]
    # Every committed frame reference points at a frame that is really in the store.
    import zarr

    group = zarr.open_group(db_path.with_suffix(".zarr"), mode="r")
    for path, index in sql(db_path, "SELECT zarr_path, frame_index FROM image_refs"):
        assert index < group[path].shape[0]
        assert group[path][index].shape == (10, 10)


CAMPAIGN = Path(__file__).resolve().parents[2] / "tools" / "sigkill_campaign.py"


def test_sigkill_campaign_repairs_every_trial_with_nothing_lost(tmp_path: Path) -> None:
    """Three trials of ``tools/sigkill_campaign.py`` (a scalar run, a frame run, a replay)."""
    import json

    done = subprocess.run([sys.executable, str(CAMPAIGN), "--trials", "3", "--small",
                           "--seed", "3", "--dir", str(tmp_path), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    totals = json.loads(done.stdout)["totals"]
    assert totals["by_kind"] == {"scalar": 1, "frames": 1, "replay": 1}
    assert (totals["failed_trials"], totals["corrupt_databases"], totals["events_lost"],
            totals["bad_image_refs"]) == (0, 0, 0, 0)
    assert totals["runs_interrupted"] >= 1
