"""Run the demo beamtime into a temporary directory, then read it back.

    python examples/read_back.py

Shows the reading API: find runs, look at their metadata, load a stream as a
table, index frames lazily, read device configuration, and replay the run's
documents (here into event-model's schema validators).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import event_model
import numpy as np

from resonance_callback import open_beamtime
from resonance_callback._demo import run_demo


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db, _ = run_demo(Path(tmp) / "demo")
        with open_beamtime(db) as bt:
            print(f"{bt.path.name}: {len(bt)} runs")
            for run in bt.values():  # newest first
                sample = run.sample.name if run.sample else "-"
                print(f"  {run.uid[:8]}  scan {run.scan_id}  {run.plan_name:10} "
                      f"{sample:16} {run.exit_status}  streams={run.streams}")

            # Filter on columns and on any start-document key.
            scans = bt.runs(plan="scan", sample="silicon wafer", where={"beamline": "demo"})
            run = bt[scans[0].uid[:6]]  # a unique uid prefix is enough
            table = run.table()  # one row per event; seq_num, time, then fields
            print(f"\nscan {run.scan_id}: {len(table)} events, columns {list(table.columns)}")
            peak = table.loc[table["det"].idxmax()]
            print(f"  det peaks at motor = {peak['motor']:.2f} (det = {peak['det']:.3f})")
            print(f"  baseline:\n{run.table('baseline')[['seq_num', 'motor1', 'motor2']]}")
            print(f"  motor configuration: {run.config('primary', 'motor')}")

            # Frames are not in the table: index them lazily, one chunk per frame.
            count = bt.runs(plan="count")[0]
            frames = count.images("img")
            print(f"\ncount {count.uid[:8]}: frames {frames.shape} {frames.dtype}")
            print(f"  frame 2 mean = {frames[2].mean():.3f}; "
                  f"centre pixel of all frames = {frames[:, 5, 5]}")
            total = np.sum([frames[i] for i in range(len(frames))], axis=0)
            print(f"  sum of all frames: min {total.min()}, max {total.max()}")

            # documents() gives back the stream as it was emitted, frames included.
            names = []
            for name, doc in count.documents():
                event_model.schema_validators[event_model.DocumentNames[name]].validate(doc)
                names.append(name)
            print(f"  documents: {' '.join(names)} (all valid)")
            print(f"  rejected documents: {count.rejected()}")


if __name__ == "__main__":
    main()
