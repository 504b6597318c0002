"""``resonance-callback plot``: runs and fields told apart, runs overlaid, one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from resonance_callback.cli import main
from resonance_callback.read import open_beamtime, plot_run, resolve_plot_keys

from ..read.plot_runs import record_plot_runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    uids = record_plot_runs(tmp_path_factory.mktemp("plots"))
    with open_beamtime(uids["db"]) as bt:
        uids["scan_ids"] = {name: bt[uids[name]].scan_id for name in
                            ("grid", "scan", "blob", "arrays", "unhinted")}
        uids["scan_ids"]["scans"] = [bt[uid].scan_id for uid in uids["scans"]]
    return uids


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_later_arguments_are_fields_of_the_first_run_else_runs(
        recorded: dict[str, Any]) -> None:
    first, second, _ = recorded["scans"]
    with open_beamtime(recorded["db"]) as bt:
        runs, fields = resolve_plot_keys(bt, [first[:8], "det", second, "motor"])
    assert [r.uid for r in runs] == [first, second] and fields == ["det", "motor"]


@pytest.mark.parametrize("args", [
    [],                              # the hinted detector against the hinted motor
    ["det"],                         # the old form: RUN Y
    ["det", "--x", "motor"],
    ["--y", "det", "--x", "time"],
])
def test_one_run_with_or_without_fields_is_plotted(recorded: dict[str, Any], tmp_path: Path,
                                                   args: list[str]) -> None:
    out = tmp_path / "one.png"
    result = invoke("plot", recorded["db"], recorded["scan_ids"]["scan"], *args, "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(("run", "args"), [
    ("grid", []),                    # a heat map
    ("arrays", ["short"]),           # a short 1-D array field: a line of their sum
    ("arrays", ["short", "--frame", "-1"]),
    ("blob", []),                    # ophyd-async: the hinted frames, summed
    ("blob", ["blob-sum"]),          # a shape-[1] field: one number per event
])
def test_grid_scans_frames_and_array_fields_are_plotted(
        recorded: dict[str, Any], tmp_path: Path, run: str, args: list[str]) -> None:
    out = tmp_path / "drawn.png"
    result = invoke("plot", recorded["db"], recorded["scan_ids"][run], *args, "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_several_runs_by_scan_id_are_overlaid(recorded: dict[str, Any], tmp_path: Path) -> None:
    ids = recorded["scan_ids"]["scans"]
    out = tmp_path / "overlaid.png"
    result = invoke("plot", recorded["db"], *ids, "--y", "det", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_the_cli_writes_the_png_plot_run_writes(recorded: dict[str, Any], tmp_path: Path) -> None:
    ids = recorded["scan_ids"]["scans"]
    result = invoke("plot", recorded["db"], *ids, "-o", tmp_path / "cli.png")
    assert result.exit_code == 0, result.output
    with open_beamtime(recorded["db"]) as bt:
        plot_run([bt[i] for i in ids], out=tmp_path / "python.png")
    assert (tmp_path / "cli.png").read_bytes() == (tmp_path / "python.png").read_bytes()


@pytest.mark.parametrize(("run", "args", "words"), [
    ("blob", ["blob", "--frame", "3"], ["field 'blob'", "has 3 frames", "no frame 3"]),
    ("arrays", ["short", "det"], ["field 'short'", "holds arrays of shape [5]"]),
    ("scan", ["nope"], ["no field 'nope'", "nor is it a run", "no run matches uid 'nope'"]),
    ("scan", ["--y", "nope"], ["no field 'nope'"]),
    ("unhinted", [], ["hints no field to plot"]),
    ("scan", ["--stream", "dark"], ["no stream 'dark'"]),
])
def test_each_failure_is_one_line_naming_the_run_and_field(
        recorded: dict[str, Any], tmp_path: Path, run: str, args: list[str],
        words: list[str]) -> None:
    out = tmp_path / "x.png"
    result = invoke("plot", recorded["db"], recorded["scan_ids"][run], *args, "-o", out)
    assert result.exit_code == 1
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: ") and recorded[run] in result.stderr
    for word in words:
        assert word in result.stderr
    assert not out.exists()


def test_a_grid_scan_overlaid_is_one_line_naming_it(recorded: dict[str, Any],
                                                    tmp_path: Path) -> None:
    ids = recorded["scan_ids"]
    result = invoke("plot", recorded["db"], ids["scan"], ids["grid"], "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert f"run {recorded['grid']} (scan {ids['grid']}) is a 2-D grid_scan" in result.stderr
