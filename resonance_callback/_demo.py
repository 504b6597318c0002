"""A short simulated beamtime on ``ophyd.sim`` hardware, written through the callback.

Used by ``resonance-callback demo``; also a worked example of a session:
one callback subscribed for the whole session, baseline readings, two
samples, scalar scans, a grid scan and an image detector.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["demo_plans", "run_demo", "summarize_runs"]


def demo_plans() -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """Yield ``(label, plan, start metadata)`` for the demo beamtime."""
    from bluesky import plans as bp
    from ophyd.sim import det, det1, det2, direct_img, motor, motor1, motor2

    yield ("count det, direct_img (5 frames)",
           bp.count([det, direct_img], num=5), {"sample": "silicon wafer"})
    yield ("scan det over motor (21 points)",
           bp.scan([det], motor, -1, 1, 21), {"sample": "silicon wafer"})
    yield ("rel_scan det1, det2 over motor (11 points)",
           bp.rel_scan([det1, det2], motor, -0.5, 0.5, 11),
           {"sample": {"name": "PS-b-PMMA film", "formula": "(C8H8)n-(C5H8O2)m"}})
    yield ("grid_scan det over motor1 x motor2 (5 x 4, snake)",
           bp.grid_scan([det], motor1, 0, 1, 5, motor2, 0, 1, 4, snake_axes=True),
           {"sample": {"name": "PS-b-PMMA film"}})
    yield ("list_scan direct_img over motor (3 frames)",
           bp.list_scan([direct_img], motor, [0.0, 0.5, 1.0]),
           {"sample": "PS-b-PMMA film"})


def run_demo(
    directory: Path | str,
    *,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[Path, list[str]]:
    """Run the demo beamtime into ``directory/demo.db`` and ``directory/demo.zarr/``.

    Parameters
    ----------
    directory : Path or str
        Created if missing.
    progress : callable, optional
        Called as ``progress(i, n, label)`` before each plan.

    Returns
    -------
    db_path : Path
        The database file.
    uids : list of str
        The uids of the runs written, in order.
    """
    from bluesky import RunEngine
    from bluesky.preprocessors import SupplementalData
    from ophyd.sim import motor1, motor2

    from resonance_callback.callback import RunWriterCallback

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    db_path = directory / "demo.db"
    RE = RunEngine({"beamline": "demo", "proposal": "demo-0001"}, call_returns_result=True)  # noqa: N806
    RE.preprocessors.append(SupplementalData(baseline=[motor1, motor2]))
    plans = list(demo_plans())
    uids: list[str] = []
    with RunWriterCallback(db_path, sample="unknown") as callback:
        token = RE.subscribe(callback)
        try:
            for i, (label, plan, md) in enumerate(plans):
                if progress is not None:
                    progress(i, len(plans), label)
                uids.extend(RE(plan, **md).run_start_uids)
        finally:
            RE.unsubscribe(token)
    if progress is not None:
        progress(len(plans), len(plans), "done")
    return db_path, uids


def summarize_runs(db_path: Path | str, uids: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per run (those in ``uids``, else all), with plain SQL on the schema contract."""
    conn = sqlite3.connect(f"{Path(db_path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            """
            SELECT r.uid, r.scan_id, r.plan_name, s.name, r.exit_status,
                   (SELECT count(*) FROM events e JOIN streams st ON e.stream_uid = st.uid
                     WHERE st.run_uid = r.uid) AS events,
                   (SELECT count(*) FROM image_refs i JOIN events e ON i.event_uid = e.uid
                     JOIN streams st ON e.stream_uid = st.uid WHERE st.run_uid = r.uid) AS frames
            FROM runs r LEFT JOIN samples s ON s.id = r.sample_id
            ORDER BY r.time_start
            """
        ).fetchall()
    finally:
        conn.close()
    if uids is not None:
        rows = [row for row in rows if row[0] in set(uids)]
    keys = ("uid", "scan_id", "plan_name", "sample", "exit_status", "events", "frames")
    return [dict(zip(keys, row, strict=True)) for row in rows]
