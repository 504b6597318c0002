"""A RunEngine scan whose start document is large is stored, and the RunEngine does not wait."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.bounded import run_bounded

#: Positions of the list_scan: the old quadratic filing of start metadata took ~25 s
#: for 20,000 of them and ~half an hour for 100,000; now about a second.
N_POSITIONS = 100_000
#: Points actually measured (the rest of the list is walked without moving or reading).
MEASURED = 3


def list_scan_with_long_positions(db: str) -> dict[str, Any]:
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp
    from bluesky import RunEngine
    from ophyd.sim import det, motor

    from resonance_callback import RunWriterCallback

    positions = [i * 1e-3 for i in range(N_POSITIONS)]
    steps = 0

    def first_steps_only(detectors: Any, step: Any, pos_cache: Any) -> Any:
        nonlocal steps
        steps += 1
        if steps <= MEASURED:
            yield from bps.one_nd_step(detectors, step, pos_cache)
        else:
            yield from bps.null()

    RE = RunEngine({})  # noqa: N806
    with RunWriterCallback(db) as callback:
        RE.subscribe(callback)
        (uid,) = RE(bp.list_scan([det], motor, positions, per_step=first_steps_only))
    return {"uid": uid}


def test_runengine_list_scan_with_100000_positions_is_stored_and_found(tmp_path: Path) -> None:
    from resonance_callback import open_beamtime

    db = tmp_path / "bt.db"
    out, _peak = run_bounded(list_scan_with_long_positions, str(db), seconds=300)
    with open_beamtime(db) as bt:
        assert [r.uid for r in bt.runs(where={"num_points": N_POSITIONS})] == [out["uid"]]
        run = bt[out["uid"]]
        assert run.exit_status == "success"
        assert len(run.start["plan_args"]["args"][1]) == N_POSITIONS
        assert len(run.table()) == MEASURED
