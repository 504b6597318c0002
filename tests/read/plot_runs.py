"""Real RunEngine runs for the plot tests: grid scans, 1-D scans, arrays, ophyd-async frames."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from typing import Any

import numpy as np
from bluesky import RunEngine
from bluesky import plans as bp
from ophyd.sim import SynSignal, hw

from resonance_callback import RunWriterCallback


def _blob_scan(RE: RunEngine, directory: Path) -> Any:  # noqa: N803
    """An ophyd-async detector writing HDF5 (``blob`` frames, ``blob-sum`` of shape [1])."""
    from ophyd_async import sim as async_sim
    from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider, init_devices

    pattern = async_sim.PatternGenerator()
    paths = StaticPathProvider(UUIDFilenameProvider(), directory)
    with init_devices():
        stage = async_sim.SimStage(pattern)
        blob = async_sim.SimBlobDetector(paths, pattern)
    return RE(bp.scan([blob], stage.x, 0, 1, 3))


def record_plot_runs(directory: Path) -> dict[str, Any]:
    """Record the runs into ``directory/plots.db``; return the db and each run's uid."""
    sim = hw(save_path=str(directory))
    m1, m2, det4 = sim.motor1, sim.motor2, sim.det4
    RE = RunEngine({}, call_returns_result=True)  # noqa: N806
    counter = itertools.count(1)
    short = SynSignal(name="short", func=lambda: np.arange(5.0) * next(counter))
    db = directory / "plots.db"
    uids: dict[str, Any] = {}
    with RunWriterCallback(db) as callback:
        RE.subscribe(callback)

        def run(name: str, plan: Any) -> None:
            uids[name] = RE(plan).run_start_uids[0]

        run("grid_snake", bp.grid_scan([det4], m1, -1, 1, 3, m2, -2, 2, 4, snake_axes=True))
        run("grid", bp.grid_scan([det4], m1, 1, -1, 3, m2, -2, 2, 4, snake_axes=False))
        m1.set(0.5).wait()
        m2.set(-1.0).wait()
        run("rel_grid", bp.rel_grid_scan([det4], m1, -1, 1, 3, m2, -1, 1, 5))
        run("list_grid", bp.list_grid_scan([det4], m1, [1.0, -1.0, 0.0], m2, [0.0, 1.0],
                                           snake_axes=True))
        run("uneven_grid", bp.list_grid_scan([det4], m1, [-1.0, 0.0, 1.0],
                                             m2, [0.0, 0.25, 1.0]))
        # Dimensions in two streams (BestEffortCallback then guesses from the motors) and a
        # shape far beyond what was measured.
        uids["odd"] = RE(bp.grid_scan([det4], m1, 0, 1, 2, m2, 0, 1, 3),
                         hints={"dimensions": [[["motor1"], "primary"], [["motor2"], "other"]]},
                         shape=[10**6, 10**6]).run_start_uids[0]
        # A grid scan whose second detector fails after a few points: most cells unmeasured.
        triggers = itertools.count()
        flaky = SynSignal(name="flaky", func=lambda: 1.0 / (next(triggers) < 5))
        starts: list[str] = []
        RE.subscribe(lambda name, doc: starts.append(doc["uid"]), "start")
        with contextlib.suppress(Exception):
            RE(bp.grid_scan([det4, flaky], m1, -1, 1, 3, m2, -2, 2, 4, snake_axes=True))
        uids["cut_grid"] = starts[-1]
        uids["scans"] = [RE(bp.scan([sim.det], sim.motor, -1, 1, n)).run_start_uids[0]
                         for n in (5, 7, 9)]
        uids["scan"] = uids["scans"][0]
        run("arrays", bp.count([short, sim.det], num=3))
        run("unhinted", bp.count([short], num=2))
        uids["blob"] = _blob_scan(RE, directory).run_start_uids[0]
    uids["db"] = db
    return uids
