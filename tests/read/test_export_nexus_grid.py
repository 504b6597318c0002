"""The NeXus default plot of grid scans: the grid rules it shares with ``plot`` (read/_grid.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from bluesky import RunEngine
from bluesky import plans as bp
from ophyd.sim import SynSignal, hw

from resonance_callback import RunWriterCallback, open_beamtime
from resonance_callback.read import export_nexus

from .plot_runs import record_plot_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Any]]]:
    uids = record_plot_runs(tmp_path_factory.mktemp("nexus_grid"))
    with open_beamtime(uids["db"]) as bt:
        yield bt, uids


def record(tmp_path: Path, plan: Any, **md: Any) -> Path:
    """Record one run of ``plan`` and export it to ``tmp_path/run.nxs``."""
    RE = RunEngine({})  # noqa: N806
    with RunWriterCallback(tmp_path / "bt.db") as callback:
        RE.subscribe(callback)
        RE(plan, **md)
    with open_beamtime(tmp_path / "bt.db") as bt:
        return export_nexus(bt[-1], tmp_path / "run.nxs")


def test_snaking_list_grid_scan_is_laid_out_on_its_grid_in_its_position_lists_order(
        runs: tuple[Any, dict[str, Any]], tmp_path: Path) -> None:
    bt, uids = runs
    run = bt[uids["list_grid"]]  # motor1 [1, -1, 0] x motor2 [0, 1], snake_axes=True
    path = export_nexus(run, tmp_path / "list_grid.nxs")
    with h5py.File(path, "r") as f:
        data = f["entry/data"]
        assert list(data.attrs["axes"]) == ["motor1", "motor2"]
        np.testing.assert_allclose(data["motor1"][()], [1.0, -1.0, 0.0])
        np.testing.assert_allclose(data["motor2"][()], [0.0, 1.0])
        grid = data["det4"][()]
    assert grid.shape == (3, 2)
    for _, row in run.table().iterrows():  # each event at its motors' grid point
        assert grid[[1.0, -1.0, 0.0].index(row["motor1"]),
                    [0.0, 1.0].index(row["motor2"])] == row["det4"]


def test_three_axis_grid_scan_snaking_puts_each_event_at_its_motors_cell(
        tmp_path: Path) -> None:
    sim = hw()
    counter = itertools.count(1)
    det = SynSignal(name="det", func=lambda: float(next(counter)))
    path = record(tmp_path, bp.grid_scan([det], sim.motor1, 0, 1, 2, sim.motor2, 0, 1, 2,
                                         sim.motor3, 0, 1, 3, snake_axes=True))
    with open_beamtime(tmp_path / "bt.db") as bt:
        table = bt[-1].table()
    with h5py.File(path, "r") as f:
        grid = f["entry/data/det"][()]
        assert list(f["entry/data"].attrs["axes"]) == ["motor1", "motor2", "motor3"]
    assert grid.shape == (2, 2, 3)
    for _, row in table.iterrows():
        cell = (round(row["motor1"]), round(row["motor2"]), round(row["motor3"] * 2))
        assert grid[cell] == row["det"], cell


def test_dimensions_hinted_in_two_streams_fall_back_to_the_motors_as_axes(
        tmp_path: Path) -> None:
    sim = hw()
    path = record(tmp_path, bp.grid_scan([sim.det4], sim.motor1, 0, 1, 2, sim.motor2, 0, 1, 3),
                  hints={"dimensions": [[["motor1"], "primary"], [["motor2"], "other"]]})
    with h5py.File(path, "r") as f:
        data = f["entry/data"]
        assert list(data.attrs["axes"]) == ["motor1", "motor2"]
        assert data["det4"].shape == (2, 3)
        np.testing.assert_allclose(data["motor2"][()], [0.0, 0.5, 1.0])
