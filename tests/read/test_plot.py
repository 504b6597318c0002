"""``plot_figure`` / ``plot_run``: what BestEffortCallback would draw, checked on the artists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.image import AxesImage, NonUniformImage
from matplotlib.lines import Line2D

from resonance_callback.errors import DataLookupError, PlotError
from resonance_callback.read import open_beamtime, plot_figure

from .plot_runs import record_plot_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    uids = record_plot_runs(tmp_path_factory.mktemp("plots"))
    with open_beamtime(uids["db"]) as bt:
        yield bt, uids


def images(fig: Any) -> list[AxesImage]:
    return [im for ax in fig.axes for im in ax.images]


def lines(fig: Any) -> list[Line2D]:
    return [line for ax in fig.axes for line in ax.lines]


def assert_placed(image: AxesImage, xs: np.ndarray, ys: np.ndarray, values: np.ndarray) -> None:
    """Each reading sits in the cell of the image under its (x, y) position."""
    left, right, bottom, top = image.get_extent()
    grid = np.asarray(image.get_array())
    rows, cols = grid.shape
    for x, y, v in zip(xs, ys, values, strict=True):
        col = int(np.floor((x - left) / (right - left) * cols))
        row = int(np.floor((y - bottom) / (top - bottom) * rows))
        assert grid[row, col] == pytest.approx(v), (x, y)
    assert not np.isnan(grid).any()


@pytest.mark.parametrize("name", ["grid_snake", "grid"])
def test_grid_scan_is_a_heat_map_of_its_hinted_detector_placed_by_shape_and_extents(
        runs: Any, name: str) -> None:
    bt, uids = runs
    run = bt[uids[name]]
    fig = plot_figure(run)
    [image] = images(fig)
    assert not lines(fig)
    assert image.get_array().shape == (3, 4)
    assert image.get_extent() == pytest.approx((-2 - 2 / 3, 2 + 2 / 3, -1.5, 1.5))
    assert image.origin == "lower"
    table = run.table()
    assert_placed(image, table["motor2"], table["motor1"], table["det4"])
    assert image.colorbar is not None and image.colorbar.ax.get_ylabel() == "det4"
    assert (image.axes.get_xlabel(), image.axes.get_ylabel()) == ("motor2", "motor1")


def test_rel_grid_scan_is_placed_at_the_motors_absolute_positions(runs: Any) -> None:
    bt, uids = runs
    run = bt[uids["rel_grid"]]
    [image] = images(plot_figure(run))
    assert image.get_extent() == pytest.approx((-2.25, 0.25, -1.0, 2.0))
    table = run.table()
    assert_placed(image, table["motor2"], table["motor1"], table["det4"])


def test_list_grid_scan_with_unordered_positions_is_a_heat_map_in_position_order(
        runs: Any) -> None:
    bt, uids = runs
    run = bt[uids["list_grid"]]
    [image] = images(plot_figure(run))
    assert image.get_extent() == pytest.approx((-0.5, 1.5, -1.5, 1.5))
    table = run.table()
    assert_placed(image, table["motor2"], table["motor1"], table["det4"])


def test_unevenly_spaced_grid_is_an_image_with_cells_at_the_positions(runs: Any) -> None:
    bt, uids = runs
    run = bt[uids["uneven_grid"]]
    [image] = images(plot_figure(run))
    assert isinstance(image, NonUniformImage)
    assert image.axes.get_xlim() == pytest.approx((-0.125, 1.375))
    assert image.axes.get_ylim() == pytest.approx((-1.5, 1.5))
    grid = np.asarray(image.get_array())
    table = run.table()
    for m1, m2, value in zip(table["motor1"], table["motor2"], table["det4"], strict=True):
        assert grid[[-1.0, 0.0, 1.0].index(m1), [0.0, 0.25, 1.0].index(m2)] == value


def test_unusable_hints_and_a_huge_shape_fall_back_to_a_scatter_over_the_motors(
        runs: Any) -> None:
    bt, uids = runs
    run = bt[uids["odd"]]
    fig = plot_figure(run)
    assert not images(fig)
    [points] = fig.axes[0].collections
    table = run.table()
    np.testing.assert_array_equal(points.get_offsets(), np.c_[table["motor1"], table["motor2"]])
    np.testing.assert_array_equal(points.get_array(), table["det4"])


def test_cells_a_failed_grid_scan_never_measured_stay_blank(runs: Any) -> None:
    bt, uids = runs
    run = bt[uids["cut_grid"]]
    assert run.exit_status == "failed"
    [image] = images(plot_figure(run, ["det4"]))
    grid = np.asarray(image.get_array())
    assert image.get_extent() == pytest.approx((-2 - 2 / 3, 2 + 2 / 3, -1.5, 1.5))
    table = run.table()
    assert 0 < len(table) < 12 and np.isfinite(grid).sum() == len(table)
    for m1, m2, value in zip(table["motor1"], table["motor2"], table["det4"], strict=True):
        assert grid[[-1.0, 0.0, 1.0].index(m1), int(round((m2 + 2) * 3 / 4))] == value


def test_grid_scan_given_an_x_is_drawn_as_lines(runs: Any) -> None:
    bt, uids = runs
    fig = plot_figure(bt[uids["grid_snake"]], x="seq_num")
    [line] = lines(fig)
    assert not images(fig)
    assert list(line.get_xdata()) == list(range(1, 13))


def test_1d_scan_is_its_hinted_detector_against_its_hinted_motor(runs: Any) -> None:
    bt, uids = runs
    run = bt[uids["scan"]]
    fig = plot_figure(run)
    [line] = lines(fig)
    table = run.table()
    np.testing.assert_array_equal(line.get_xdata(), table["motor"])
    np.testing.assert_array_equal(line.get_ydata(), table["det"])
    assert (fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()) == ("motor", "det")


def test_runs_overlaid_are_one_line_each_with_a_legend_naming_them(runs: Any) -> None:
    bt, uids = runs
    overlaid = [bt[uid] for uid in uids["scans"]]
    fig = plot_figure(overlaid)
    drawn = lines(fig)
    assert [len(line.get_xdata()) for line in drawn] == [5, 7, 9]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [f"scan {r.scan_id} ({r.uid[:8]})" for r in overlaid]


def test_ophyd_async_frame_is_drawn_with_pixel_axes_origin_upper_and_a_colour_bar(
        runs: Any) -> None:
    bt, uids = runs
    run = bt[uids["blob"]]
    [image] = images(plot_figure(run, ["blob"], frame=1))
    np.testing.assert_array_equal(image.get_array(), run.images("blob")[1].sum(axis=0))
    assert image.origin == "upper"
    assert image.colorbar is not None
    assert image.axes.get_xlabel() == "x [pixel]" and image.axes.get_ylabel() == "y [pixel]"


def test_hinted_frames_are_drawn_summed_when_no_hinted_field_is_a_number(runs: Any) -> None:
    bt, uids = runs
    run = bt[uids["blob"]]
    [image] = images(plot_figure(run))
    np.testing.assert_array_equal(image.get_array(), np.asarray(run.images("blob")).sum(
        axis=(0, 1)))


def test_a_shape_1_field_is_one_number_per_event(runs: Any) -> None:
    bt, uids = runs
    run = bt[uids["blob"]]
    [line] = lines(plot_figure(run, ["blob-sum"]))
    expected = [np.asarray(v).item() for v in run.table()["blob-sum"]]
    np.testing.assert_array_equal(line.get_ydata(), expected)
    np.testing.assert_array_equal(line.get_xdata(), run.table()["stage-x"])


def test_a_short_array_field_alone_is_a_line_per_event(runs: Any) -> None:
    bt, uids = runs
    run = bt[uids["arrays"]]
    [line] = lines(plot_figure(run, ["short"], frame=-1))
    np.testing.assert_array_equal(line.get_ydata(), run.table()["short"].iloc[-1])
    np.testing.assert_array_equal(line.get_xdata(), np.arange(5))


@pytest.mark.parametrize(("name", "ys", "kwargs", "error", "words"), [
    ("blob", ["blob"], {"frame": 3}, DataLookupError, ["field 'blob'", "3 frames", "no frame 3"]),
    ("blob", ["blob"], {"frame": -4}, DataLookupError, ["no frame -4"]),
    ("arrays", ["short", "det"], {}, PlotError, ["field 'short'", "arrays", "plot it alone"]),
    ("blob", ["blob", "blob-sum"], {}, PlotError, ["field 'blob'", "frames: plot it alone"]),
    ("scan", ["nope"], {}, DataLookupError, ["no field 'nope'", "columns: ['det'"]),
    ("scan", ["det"], {"x": "nope"}, DataLookupError, ["no field 'nope'"]),
    ("scan", ["det"], {"frame": 0}, PlotError, ["--frame 0", "it has none"]),
    ("unhinted", None, {}, PlotError, ["hints no field to plot", "'short'"]),
    ("scan", None, {"stream": "dark"}, DataLookupError, ["no stream 'dark'"]),
])
def test_each_failure_is_one_line_naming_the_run_and_what_is_wrong(
        runs: Any, name: str, ys: list[str] | None, kwargs: dict[str, Any], error: type,
        words: list[str]) -> None:
    bt, uids = runs
    with pytest.raises(error) as raised:
        plot_figure(bt[uids[name]], ys, **kwargs)
    message = str(raised.value)
    assert uids[name] in message and "\n" not in message
    for word in words:
        assert word in message


def test_a_grid_scan_overlaid_with_others_is_refused_naming_it(runs: Any) -> None:
    bt, uids = runs
    grid = bt[uids["grid"]]
    with pytest.raises(PlotError, match=f"run {grid.uid} .scan {grid.scan_id}. is a 2-D"):
        plot_figure([bt[uids["scan"]], grid])


def test_frames_overlaid_with_other_runs_are_refused_naming_the_run(runs: Any) -> None:
    bt, uids = runs
    with pytest.raises(PlotError, match=f"field 'blob' .* run {uids['blob']}"):
        plot_figure([bt[uids["blob"]], bt[uids["blob"]]], ["blob"])


def test_plot_run_writes_a_png_of_the_figure(runs: Any, tmp_path: Path) -> None:
    from resonance_callback.read import plot_run

    bt, uids = runs
    out = plot_run(bt[uids["grid"]], out=tmp_path / "grid.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
