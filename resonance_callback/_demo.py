"""A short simulated beamtime on ``ophyd.sim`` hardware, written through the callback.

Used by ``resonance-callback demo``; also a worked example of a session:
one callback subscribed for the whole session, baseline readings, two
samples, scalar scans, a grid scan of a detector that depends on its motors
(``det4``, drawn as a heat map by ``plot``) and an image detector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["demo_plans", "run_demo", "summarize_runs"]


def demo_plans() -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """Yield ``(label, plan, start metadata)`` for the demo beamtime."""
    from bluesky import plans as bp
    from ophyd.sim import det, det1, det2, det4, direct_img, motor, motor1, motor2

    yield ("count det, direct_img (5 frames)",
           bp.count([det, direct_img], num=5), {"sample": "silicon wafer"})
    yield ("scan det over motor (21 points)",
           bp.scan([det], motor, -1, 1, 21), {"sample": "silicon wafer"})
    yield ("rel_scan det1, det2 over motor (11 points)",
           bp.rel_scan([det1, det2], motor, -0.5, 0.5, 11),
           {"sample": {"name": "PS-b-PMMA film", "formula": "(C8H8)n-(C5H8O2)m"}})
    # det4 is a 2-D Gaussian of motor1 and motor2: the grid scan's heat map shows its peak.
    yield ("grid_scan det4 over motor1 x motor2 (5 x 5, snake)",
           bp.grid_scan([det4], motor1, -2, 2, 5, motor2, -2, 2, 5, snake_axes=True),
           {"sample": {"name": "PS-b-PMMA film"}})
    # (motor, positions) pairs: bluesky's own annotation of them differs between releases.
    pairs: tuple[Any, ...] = (motor, [0.0, 0.5, 1.0])
    yield ("list_scan direct_img over motor (3 frames)",
           bp.list_scan([direct_img], *pairs), {"sample": "PS-b-PMMA film"})


def run_demo(
    directory: Path | str,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    frames: str | None = None,
) -> tuple[Path, list[str]]:
    """Run the demo beamtime into ``directory/demo.db`` and ``directory/demo.zarr/``.

    Parameters
    ----------
    directory : Path or str
        Created if missing.
    progress : callable, optional
        Called as ``progress(i, n, label)`` before each plan.
    frames : str, optional
        Where frames go (``"s3://bucket/prefix"``); default ``demo.zarr/`` beside the file.

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
    with RunWriterCallback(db_path, sample="unknown", frames=frames) as callback:
        token = RE.subscribe(callback)
        try:
            for i, (label, plan, md) in enumerate(plans):
                if progress is not None:
                    progress(i, len(plans), label)
                result = RE(plan, **md)
                uids.extend(result if isinstance(result, tuple) else result.run_start_uids)
        finally:
            RE.unsubscribe(token)
    if progress is not None:
        progress(len(plans), len(plans), "done")
    return db_path, uids


def summarize_runs(db_path: Path | str, uids: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per run (those in ``uids``, else all), oldest first, read through the store.

    ``events`` is the store's count of the events of a run, all streams
    together; ``frames`` the frames stored.
    """
    from resonance_callback.store import BeamtimeReader, run_overviews

    with BeamtimeReader(db_path) as reader:
        runs = run_overviews(reader)[::-1]
    wanted = None if uids is None else set(uids)
    return [{"uid": r.uid, "scan_id": r.scan_id, "plan_name": r.plan_name, "sample": r.sample,
             "exit_status": r.exit_status, "events": sum(r.events.values()), "frames": r.frames}
            for r in runs if wanted is None or r.uid in wanted]
