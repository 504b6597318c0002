"""``resonance-callback demo``: the main job on an embedded default."""

from __future__ import annotations

from pathlib import Path

import click

from resonance_callback.cli._base import FRAMES_HELP, _table, handle_errors, main


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path),
                default=Path("demo"), required=False)
@click.option("--frames", metavar="URL", help=FRAMES_HELP)
@handle_errors
def demo(directory: Path, frames: str | None) -> None:
    r"""Run a short simulated beamtime into DIRECTORY/demo.db + demo.zarr/.

    Several plans on ophyd.sim hardware (counts, scans, a snake grid scan,
    an image detector), two samples and a baseline stream, written through
    RunWriterCallback; then prints the runs written.

    \b
    Example:
        resonance-callback demo ./demo
        resonance-callback demo ./demo --frames s3://frames/demo
    """
    from resonance_callback._demo import run_demo, summarize_runs

    def progress(i: int, n: int, label: str) -> None:
        click.echo(f"[{i}/{n}] {label}", err=True)

    db_path, uids = run_demo(directory, progress=progress, frames=frames)
    rows = summarize_runs(db_path, uids)
    columns = ["uid", "scan_id", "plan_name", "sample", "exit_status", "events", "frames"]
    where = frames or db_path.with_suffix(".zarr")
    click.echo(f"Wrote {len(rows)} runs to {db_path} (frames in {where})")
    click.echo(_table(columns, [[str(row["uid"])[:8], *(str(row[c]) for c in columns[1:])]
                                for row in rows]))
