"""``resonance-callback export`` and ``plot`` through click's CliRunner, on the demo beamtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tifffile
from click.testing import CliRunner

from resonance_callback import jsoncodec, open_beamtime
from resonance_callback._demo import run_demo
from resonance_callback.cli import main

from ..docs_compare import assert_same_documents

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo beamtime, with the uids of its count (frames) and scan runs."""
    db, _ = run_demo(tmp_path_factory.mktemp("demo"))
    with open_beamtime(db) as bt:
        return {"db": str(db), "count": bt.runs(plan="count")[0].uid,
                "scan": bt.runs(plan="scan")[0].uid}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_export_jsonl_writes_the_document_stream(demo: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    result = invoke("export", demo["db"], demo["count"][:8], "-o", str(out))
    assert result.exit_code == 0, result.output
    lines = [jsoncodec.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    with open_beamtime(demo["db"]) as bt:
        expected = list(bt[demo["count"]].documents())
    assert_same_documents(expected, [(name, doc) for name, doc in lines])
    assert f"Wrote {len(lines)} documents" in result.output


def test_export_jsonl_to_stdout(demo: dict[str, Any]) -> None:
    result = invoke("export", demo["db"], demo["scan"], "--format", "jsonl", "-o", "-")
    assert result.exit_code == 0
    names = [jsoncodec.loads(line)[0] for line in result.stdout.splitlines()]
    assert names[0] == "start" and names[-1] == "stop" and names.count("event") == 23


def test_export_csv_writes_one_table_per_stream(demo: dict[str, Any], tmp_path: Path) -> None:
    result = invoke("export", demo["db"], demo["scan"], "--format", "csv", "-o",
                    str(tmp_path / "csv"), "--timestamps")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == ["baseline.csv",
                                                                     "primary.csv"]
    with open_beamtime(demo["db"]) as bt:
        expected = bt[demo["scan"]].table(timestamps=True)
    written = pd.read_csv(tmp_path / "csv" / "primary.csv")
    assert list(written.columns) == list(expected.columns)
    np.testing.assert_allclose(written.to_numpy(float), expected.to_numpy(float), rtol=1e-15)


def test_export_tiff_writes_each_frame_or_a_stack(demo: dict[str, Any], tmp_path: Path) -> None:
    with open_beamtime(demo["db"]) as bt:
        frames = np.asarray(bt[demo["count"]].images("img"))
    result = invoke("export", demo["db"], demo["count"], "--format", "tiff", "-o",
                    str(tmp_path / "each"))
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "each").iterdir())
    assert [f.name for f in files] == [f"primary_img_{i:05d}.tif" for i in range(len(frames))]
    assert np.array_equal(np.stack([tifffile.imread(f) for f in files]), frames)
    result = invoke("export", demo["db"], demo["count"], "--format", "tiff", "--stack",
                    "--field", "img", "-o", str(tmp_path / "stack"))
    assert result.exit_code == 0, result.output
    stacked = tifffile.imread(tmp_path / "stack" / "primary_img.tif")
    assert np.array_equal(stacked, frames)


def test_export_tiff_of_a_run_without_frames_fails_in_one_line(demo: dict[str, Any],
                                                               tmp_path: Path) -> None:
    result = invoke("export", demo["db"], demo["scan"], "--format", "tiff", "-o",
                    str(tmp_path / "none"))
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: run") and "no frames" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [
    ["det"],
    ["det", "--x", "motor"],
    ["det", "motor_setpoint", "--x", "time"],
    ["motor1", "--stream", "baseline"],
])
def test_plot_draws_stream_fields_to_png(demo: dict[str, Any], tmp_path: Path,
                                         args: list[str]) -> None:
    out = tmp_path / "plot.png"
    result = invoke("plot", demo["db"], demo["scan"], *args, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 5000


@pytest.mark.parametrize("args", [["img"], ["img", "--frame", "2"]])
def test_plot_draws_a_frame_field_as_an_image(demo: dict[str, Any], tmp_path: Path,
                                              args: list[str]) -> None:
    out = tmp_path / "frame.png"
    result = invoke("plot", demo["db"], demo["count"], *args, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(("args", "message"), [
    (["nonexistent"], "no field 'nonexistent'"),
    (["det", "--x", "nope"], "no field 'nope'"),
    (["det", "--stream", "dark"], "no stream 'dark'"),
])
def test_plot_errors_name_what_is_missing(demo: dict[str, Any], tmp_path: Path,
                                          args: list[str], message: str) -> None:
    result = invoke("plot", demo["db"], demo["scan"], *args, "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_unknown_run_is_a_one_line_error(demo: dict[str, Any], tmp_path: Path) -> None:
    result = invoke("export", demo["db"], "ffffffff", "-o", str(tmp_path / "x.jsonl"))
    assert result.exit_code == 1
    assert result.output.startswith("Error: no run matches uid 'ffffffff'")


@pytest.mark.parametrize("command", ["export", "plot"])
def test_help_shows_examples(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Examples:\n" in result.output
    assert f"    resonance-callback {command} demo/demo.db" in result.output
