"""``python -m benchmarks.round4_plot`` draws issue 25's cost curves from the saved results."""

from __future__ import annotations

from pathlib import Path

from benchmarks.round4_plot import HERE, _load, metadata_curve, read_curves, recovery_curve
from benchmarks.round4_plot import main as plot_main


def test_saved_results_give_every_curve_of_the_plot() -> None:
    frames, tables = read_curves(_load(HERE / "reads-results.json"))
    assert {"by index", "xarray", "serve-tiled"} <= set(frames)
    assert max(tables["table()"]) == 1_000_000
    stored = metadata_curve(_load(HERE / "metadata-store-results.json"))["store a start"]
    assert max(stored) == 100_000
    assert len(recovery_curve(_load(HERE / "round4-serve.json"))["recovery"]) >= 3


def test_plot_is_written_as_png_even_without_results(tmp_path: Path) -> None:
    out = tmp_path / "curves.png"
    missing = str(tmp_path / "missing.json")
    assert plot_main([str(out), "--reads", missing, "--metadata", missing,
                      "--serve", missing]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
