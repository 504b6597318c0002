"""The 3 a.m. set-up: subscribe once, run plans, every run lands in the beamtime database.

Run: python examples/subscribe.py [DIRECTORY]
"""

import sqlite3
import sys
import tempfile
from pathlib import Path

from bluesky import RunEngine
from bluesky.plans import count, scan
from ophyd.sim import det, direct_img, motor

from resonance_callback import RunWriterCallback

directory = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
db_path = directory / "beamtime.db"

RE = RunEngine({})
RE.subscribe(RunWriterCallback(db_path, sample="silicon wafer"))
RE(count([det, direct_img], num=3))
RE(scan([det], motor, -1, 1, 11), sample={"name": "gold foil", "thickness_um": 5})

# Any SQL tool can read the result.
with sqlite3.connect(db_path) as conn:
    for row in conn.execute(
        "SELECT r.scan_id, r.plan_name, s.name, r.exit_status FROM runs r "
        "JOIN samples s ON s.id = r.sample_id ORDER BY r.time_start"
    ):
        print(*row)
