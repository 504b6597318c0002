"""``resonance-callback export`` of several runs: ranges, filters, a file per run or one for all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import pytest
from click.testing import CliRunner

from resonance_callback import open_beamtime
from resonance_callback.cli import main
from resonance_callback.replay import replay

from ..export_beamtime import ExportBeamtime, record
from ..mounts import mounted


@pytest.fixture(scope="module")
def beamtime(tmp_path_factory: pytest.TempPathFactory) -> ExportBeamtime:
    return record(tmp_path_factory.mktemp("export-cli"))


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def stems(beamtime: ExportBeamtime, *uids: str) -> list[str]:
    with open_beamtime(beamtime.db) as bt:
        return [f"scan{bt[uid].scan_id:05d}-{uid[:8]}" for uid in uids]


def one_line_error(result: Any, *parts: str) -> None:
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for part in parts:
        assert part in lines[0], lines[0]


def test_a_scan_id_range_writes_one_file_per_run_named_after_it(beamtime: ExportBeamtime,
                                                                 tmp_path: Path) -> None:
    result = invoke("export", beamtime.db, "1..3", "--format", "nexus", "-o", tmp_path / "nx")
    assert result.exit_code == 0, result.output
    expected = stems(beamtime, beamtime.grid, beamtime.frames, beamtime.scan)
    assert sorted(p.name for p in (tmp_path / "nx").iterdir()) == [f"{s}.nxs" for s in expected]
    with h5py.File(tmp_path / "nx" / f"{expected[0]}.nxs", "r") as f:
        assert f["entry/entry_identifier"].asstr()[()] == beamtime.grid
    assert result.output.count("Wrote run ") == 3


def test_run_keys_and_ranges_mix_and_each_run_is_written_once(beamtime: ExportBeamtime,
                                                              tmp_path: Path) -> None:
    result = invoke("export", beamtime.db, "2..", beamtime.scan[:8], "-1", "--format",
                    "msgpack", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    expected = stems(beamtime, beamtime.frames, beamtime.scan, beamtime.async_frames)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"{s}.msgpack" for s in expected]


def test_sample_filter_selects_the_runs_of_that_sample(beamtime: ExportBeamtime,
                                                       tmp_path: Path) -> None:
    result = invoke("export", beamtime.db, "--sample", "gold*", "--since", "2000-01-01",
                    "--format", "jsonl", "-o", tmp_path / "gold")
    assert result.exit_code == 0, result.output
    expected = stems(beamtime, beamtime.grid, beamtime.async_frames)
    assert sorted(p.name for p in (tmp_path / "gold").iterdir()) == [
        f"{s}.jsonl" for s in expected]


def test_a_filter_narrows_the_runs_a_range_names(beamtime: ExportBeamtime,
                                                 tmp_path: Path) -> None:
    result = invoke("export", beamtime.db, "1..3", "--plan", "count", "--format", "msgpack",
                    "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == [
        f"{stems(beamtime, beamtime.frames)[0]}.msgpack"]


def test_one_file_holds_every_run_selected_and_replays_them_all(beamtime: ExportBeamtime,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "all.msgpack"
    result = invoke("export", beamtime.db, "..", "--format", "msgpack", "--one-file", "-o", out)
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and "4 runs" in result.output
    summary = replay(out, tmp_path / "copy.db")
    assert summary.runs_added == 4 and summary.rejected == 0
    with open_beamtime(tmp_path / "copy.db") as copy:
        assert [run.uid for run in copy.runs()][::-1] == [
            beamtime.grid, beamtime.frames, beamtime.scan, beamtime.async_frames]


def test_one_nexus_file_holds_an_entry_per_run(beamtime: ExportBeamtime, tmp_path: Path) -> None:
    out = tmp_path / "all.nxs"
    result = invoke("export", beamtime.db, "1..2", "--format", "nexus", "--one-file", "-o", out)
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as f:
        assert sorted(f) == sorted(s.replace("-", "_") for s in stems(
            beamtime, beamtime.grid, beamtime.frames))


def test_an_existing_output_file_is_refused_in_one_line_naming_it(beamtime: ExportBeamtime,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "run.nxs"
    out.write_bytes(b"keep me")
    result = invoke("export", beamtime.db, beamtime.grid[:8], "--format", "nexus", "-o", out)
    one_line_error(result, str(out), "already exists", beamtime.grid)
    assert out.read_bytes() == b"keep me"


def test_a_file_where_the_output_directory_should_be_fails_in_one_line(
        beamtime: ExportBeamtime, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = invoke("export", beamtime.db, "1..2", "--format", "msgpack", "-o", blocker / "x")
    one_line_error(result, str(blocker / "x"), "cannot create directory")


@pytest.mark.parametrize("fmt", ["nexus", "msgpack", "jsonl"])
def test_a_read_only_output_directory_fails_in_one_line_and_leaves_nothing(
        beamtime: ExportBeamtime, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "ro"
    target.mkdir()
    with mounted(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)],
                 target=target):
        result = invoke("export", beamtime.db, beamtime.frames[:8], "--format", fmt, "-o",
                        target / "run.out")
        one_line_error(result, str(target / "run.out"), "Read-only file system",
                       beamtime.frames)
        assert list(target.iterdir()) == []


@pytest.mark.parametrize(("fmt", "size"), [("nexus", "64k"), ("msgpack", "12k")])
def test_a_full_disk_fails_in_one_line_and_removes_the_partial_file(
        beamtime: ExportBeamtime, tmp_path: Path, fmt: str, size: str) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                 target=disk):
        result = invoke("export", beamtime.db, "..", "--format", fmt, "--one-file",
                        "-o", disk / "all.out")
        one_line_error(result, str(disk / "all.out"), "4 runs")
        assert list(disk.iterdir()) == []


def test_csv_of_several_runs_in_one_file_is_refused(beamtime: ExportBeamtime,
                                                    tmp_path: Path) -> None:
    result = invoke("export", beamtime.db, "1..2", "--format", "csv", "--one-file", "-o",
                    tmp_path / "x")
    one_line_error(result, "csv writes a directory per run")


def test_csv_of_several_runs_writes_a_directory_per_run(beamtime: ExportBeamtime,
                                                        tmp_path: Path) -> None:
    result = invoke("export", beamtime.db, "1..2", "--format", "csv", "-o", tmp_path / "x")
    assert result.exit_code == 0, result.output
    for stem in stems(beamtime, beamtime.grid, beamtime.frames):
        assert (tmp_path / "x" / stem / "primary.csv").is_file()


def test_a_range_with_no_run_fails_in_one_line(beamtime: ExportBeamtime, tmp_path: Path) -> None:
    result = invoke("export", beamtime.db, "50..60", "-o", tmp_path / "x")
    one_line_error(result, "no run of", "50..60")


def test_export_without_runs_or_filters_is_a_usage_error(beamtime: ExportBeamtime,
                                                         tmp_path: Path) -> None:
    result = invoke("export", beamtime.db, "-o", tmp_path / "x")
    assert result.exit_code == 2 and "name the runs" in result.output


def test_msgpack_to_standard_output_pipes_into_replay(beamtime: ExportBeamtime,
                                                      tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cli = [sys.executable, "-c", "from resonance_callback.cli import main; main()"]
    exporting = subprocess.Popen([*cli, "export", str(beamtime.db), "1..2", "--format",
                                  "msgpack", "--one-file", "-o", "-"],
                                 stdout=subprocess.PIPE, env=env)
    replaying = subprocess.run([*cli, "replay", "-", "--db", str(tmp_path / "copy.db")],
                               stdin=exporting.stdout, capture_output=True, text=True,
                               env=env, timeout=300)
    assert exporting.stdout is not None
    exporting.stdout.close()
    assert exporting.wait(timeout=300) == 0
    assert replaying.returncode == 0, replaying.stderr
    with open_beamtime(tmp_path / "copy.db") as copy:
        assert sorted(run.uid for run in copy.runs()) == sorted([beamtime.grid,
                                                                beamtime.frames])
        assert copy[beamtime.grid].sample.name == "gold foil"


def test_one_run_into_an_existing_directory_is_named_after_the_run(beamtime: ExportBeamtime,
                                                                   tmp_path: Path) -> None:
    result = invoke("export", beamtime.db, "-1", "--format", "nexus", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"{stems(beamtime, beamtime.async_frames)[0]}.nxs").is_file()


def test_several_files_to_standard_output_are_refused(beamtime: ExportBeamtime) -> None:
    result = invoke("export", beamtime.db, "1..2", "--format", "msgpack", "-o", "-")
    one_line_error(result, "standard output")
