"""Hostile values from real devices through a real RunEngine: the scan never sees an error."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky import RunEngine
from ophyd import Signal

from resonance_callback import RunWriterCallback, open_beamtime


def _scan(sig: Signal, values: list[Any], md: dict[str, Any] | None = None) -> Any:
    """Read ``sig`` once per value, setting it first: one event each."""
    @bpp.run_decorator(md=md or {})
    def plan() -> Any:
        for value in values:
            yield from bps.mv(sig, value)
            yield from bps.trigger_and_read([sig])
    return plan()


def _run(tmp_path: Path, values: list[Any], md: dict[str, Any] | None = None
         ) -> tuple[str, list[Any], list[str], str | None, dict[str, Any]]:
    RE = RunEngine({})
    sig = Signal(name="sig", value=values[0])
    with RunWriterCallback(tmp_path / "bt.db") as callback:
        RE.subscribe(callback)
        (uid,) = RE(_scan(sig, values, md))
    with open_beamtime(tmp_path / "bt.db") as bt:
        run = bt[uid]
        stored = [d["data"].get("sig") for n, d in run.documents() if n == "event"]
        reasons = [r.reason for r in run.rejected()]
        return uid, stored, reasons, run.exit_status, run.start


def test_runengine_scan_with_a_lone_surrogate_reading_stores_every_event(tmp_path: Path
                                                                          ) -> None:
    _, stored, reasons, status, _ = _run(tmp_path, ["a", "b\udfffc", "d"])
    assert stored == ["a", "b\udfffc", "d"] and reasons == [] and status == "success"


def test_runengine_scan_with_a_long_list_in_a_scalar_field_rejects_that_value_only(
        tmp_path: Path) -> None:
    _, stored, reasons, status, _ = _run(tmp_path, [1.0, list(range(5000)), 3.0])
    assert stored == [1.0, None, 3.0]
    assert len(reasons) == 1 and "declares a scalar" in reasons[0]
    assert status == "success"


def test_runengine_scan_with_non_finite_and_huge_readings_stores_them(tmp_path: Path) -> None:
    _, stored, reasons, status, _ = _run(tmp_path, [1.0, math.inf, 2**70])
    assert stored == [1.0, math.inf, 2**70] and reasons == [] and status == "success"


def test_runengine_start_metadata_shaped_like_json_tags_comes_back_as_itself(
        tmp_path: Path) -> None:
    md = {"a": {"$bytes": "!!"}, "b": {"$float": "NaN"}, "note": "x\ud800y"}
    _, stored, reasons, status, start = _run(tmp_path, [1.0, 2.0], md)
    assert {k: start[k] for k in md} == md
    assert stored == [1.0, 2.0] and reasons == [] and status == "success"
