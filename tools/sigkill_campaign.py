"""SIGKILL campaign: kill a writer at random moments, ``repair``, and check nothing was lost.

Each trial starts a child process that writes a beamtime (a scalar run, a run with
256x256 frames, or a ``replay`` of a saved stream), kills it with SIGKILL at a random
moment, runs ``resonance-callback repair`` and asserts:

* ``PRAGMA integrity_check`` is ``ok``;
* no event is lost that was emitted more than a second before the kill (for a replay:
  no event of the file is missing before the last one stored, i.e. what is stored is a
  prefix of the stream);
* no ``image_refs`` row points at a missing or unreadable frame (``check``);
* every run without a stop is reported ``interrupted`` by ``check`` after ``repair``,
  and none is left open.

Usage::

    python tools/sigkill_campaign.py --trials 50 [--seed 1] [--dir DIR] [--json]

Exits 1 if any trial failed an assertion.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

#: Child programs by kind; each prints SCANNING, then "uid time" per event emitted.
LIVE = textwrap.dedent(
    """
    import sys
    import numpy as np
    from bluesky import RunEngine
    from bluesky.plans import count
    from ophyd.sim import SynSignal, det
    from resonance_callback import RunWriterCallback

    frames = sys.argv[2] == "frames"
    cam = SynSignal(func=lambda: np.full((256, 256), 7, dtype=np.uint16), name="cam")
    RE = RunEngine({})
    cb = RunWriterCallback(sys.argv[1])
    RE.subscribe(cb)
    detectors = [det, cam] if frames else [det]
    RE(count(detectors, num=3))          # an earlier, complete run

    def report(name, doc):
        if name == "event":
            print(doc["uid"], doc["time"], flush=True)

    RE.subscribe(report)
    print("SCANNING", flush=True)
    RE(count(detectors, num=10**6, delay=0.002 if frames else 0.0005))
    """
)

REPLAY = textwrap.dedent(
    """
    import sys
    from resonance_callback.replay import replay
    print("SCANNING", flush=True)
    replay(sys.argv[2], sys.argv[1])
    """
)

MAKE_STREAM = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from bluesky import RunEngine
    from bluesky.plans import count
    from ophyd.sim import SynSignal, det

    cam = SynSignal(func=lambda: np.full((64, 64), 3, dtype=np.uint16), name="cam")
    out = open(sys.argv[1], "w")

    def save(name, doc):
        out.write(json.dumps([name, doc], default=lambda v: v.tolist()) + "\\n")

    RE = RunEngine({})
    RE.subscribe(save)
    for _ in range(int(sys.argv[2])):
        RE(count([det, cam], num=300))
        RE(count([det], num=5000))
    out.close()
    """
)


#: Runs the command line (``resonance-callback``) with the arguments after it.
CLI = "import sys; from resonance_callback.cli import main; sys.exit(main())"


def _events_in_stream(path: Path) -> list[str]:
    uids = []
    with open(path) as f:
        for line in f:
            name, doc = json.loads(line)
            if name == "event":
                uids.append(doc["uid"])
            elif name == "event_page":
                uids.extend(doc["uid"])
    return uids


def _rows(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def trial(kind: str, directory: Path, rng: random.Random, stream: Path | None,
          max_delay: float = 4.0) -> dict[str, Any]:
    """Run one trial; return its figures and the assertions that failed."""
    directory.mkdir(parents=True)
    db_path = directory / "bt.db"
    if kind == "replay":
        assert stream is not None
        argv = [sys.executable, "-c", REPLAY, str(db_path), str(stream)]
    else:
        argv = [sys.executable, "-c", LIVE, str(db_path), kind]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if line != "SCANNING":
        child.kill()
        return {"kind": kind, "failures": [f"child did not start: {line!r}"]}
    delay = rng.uniform(0.3, max_delay)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout or ()), daemon=True)
    reader.start()
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)
    killed_at = time.time()
    child.wait()
    reader.join(10)
    emitted: list[tuple[str, float]] = []
    for entry in lines:
        parts = entry.split()
        if len(parts) == 2:
            emitted.append((parts[0], float(parts[1])))
    failures = []
    figures: dict[str, Any] = {"kind": kind, "kill_after_s": round(delay, 2)}
    if not db_path.exists():
        figures["failures"] = []
        figures["note"] = "killed before the database was created"
        return figures
    repair = subprocess.run([sys.executable, "-c", CLI, "repair", str(db_path), "--json"],
                            capture_output=True, text=True)
    if repair.returncode:
        failures.append(f"repair failed: {repair.stderr.strip()[-300:]}")
        figures["failures"] = failures
        return figures
    repaired = json.loads(repair.stdout)
    figures["interrupted"] = len(repaired["interrupted"])
    figures["orphan_chunks"] = repaired["orphan_chunks"]
    integrity = _rows(db_path, "PRAGMA integrity_check")
    if integrity != [("ok",)]:
        failures.append(f"integrity_check: {integrity[:3]}")
    stored = {uid for (uid,) in _rows(db_path, "SELECT uid FROM events")}
    figures["events_stored"] = len(stored)
    if kind == "replay":
        assert stream is not None
        order = _events_in_stream(stream)
        last = max((i for i, uid in enumerate(order) if uid in stored), default=-1)
        lost = [uid for uid in order[:last + 1] if uid not in stored]
    else:
        lost = [uid for uid, when in emitted if when < killed_at - 1.0 and uid not in stored]
        figures["events_emitted_1s_before_kill"] = sum(
            1 for _, when in emitted if when < killed_at - 1.0)
    figures["events_lost"] = len(lost)
    if lost:
        failures.append(f"{len(lost)} event(s) lost")
    from resonance_callback.read import check_beamtime

    report = check_beamtime(db_path)
    figures["bad_image_refs"] = sum(b["rows"] for b in report.bad_image_refs)
    if report.bad_image_refs:
        failures.append(f"bad image_refs: {report.bad_image_refs}")
    if report.integrity:
        failures.append(f"check integrity: {report.integrity}")
    unstopped = {uid for (uid,) in _rows(db_path, "SELECT uid FROM runs WHERE stop_document "
                                                  "IS NULL")}
    reported = {run["uid"] for run in report.interrupted_runs}
    if report.open_runs:
        failures.append(f"runs still open after repair: {report.open_runs}")
    if unstopped != reported:
        failures.append(f"runs without stop {sorted(unstopped)} != interrupted {sorted(reported)}")
    figures["failures"] = failures
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the campaign; print the figures; return 1 if any trial failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--small", action="store_true",
                        help="a short saved stream and kills within 2 s (for the test suite)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    root = args.dir or Path(tempfile.mkdtemp(prefix="sigkill-"))
    root.mkdir(parents=True, exist_ok=True)
    kinds = ["scalar", "frames", "replay"]
    stream = None
    if any(kinds[i % 3] == "replay" for i in range(args.trials)):
        stream = root / "saved.jsonl"
        subprocess.run([sys.executable, "-c", MAKE_STREAM, str(stream),
                        "1" if args.small else "3"], check=True)
    results = []
    for i in range(args.trials):
        kind = kinds[i % 3]
        result = trial(kind, root / f"trial-{i:03d}-{kind}", rng, stream,
                       2.0 if args.small else 4.0)
        results.append(result)
        if not args.json:
            print(f"trial {i:3d} {kind:7s} {json.dumps(result)}", flush=True)
    totals = {
        "trials": len(results),
        "by_kind": {k: sum(r["kind"] == k for r in results) for k in kinds},
        "failed_trials": sum(bool(r["failures"]) for r in results),
        "corrupt_databases": sum(any("integrity" in f for f in r["failures"])
                                 for r in results),
        "events_lost": sum(r.get("events_lost", 0) for r in results),
        "events_stored": sum(r.get("events_stored", 0) for r in results),
        "bad_image_refs": sum(r.get("bad_image_refs", 0) for r in results),
        "runs_interrupted": sum(r.get("interrupted", 0) for r in results),
        "orphan_chunks_removed": sum(r.get("orphan_chunks", 0) for r in results),
    }
    if args.json:
        print(json.dumps({"totals": totals, "trials": results}, indent=2))
    else:
        print(json.dumps(totals, indent=2))
    return 1 if totals["failed_trials"] else 0


if __name__ == "__main__":
    sys.exit(main())
