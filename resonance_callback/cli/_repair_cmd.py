"""``resonance-callback repair``: recover a beamtime after a crash."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from resonance_callback.cli._base import _echo_report, handle_errors, main


@main.command()
@click.argument("db", type=click.Path(path_type=Path))
@click.option("--zarr", "zarr_store", type=click.Path(path_type=Path),
              help="The frame store, if not DB's stem + .zarr beside it.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@handle_errors
def repair(db: Path, zarr_store: Path | None, as_json: bool) -> None:
    """Recover beamtime DB after a crash; safe to run at any time, and again.

    Marks every run left open by a writer that is no longer running as
    interrupted (a run still being written is left alone), trims the Zarr
    arrays of those runs to the frames their committed rows point at, and
    removes the chunk files written after the last commit (only while no
    writer is running: else the trimming waits for a later repair). A writer
    opening the beamtime marks interrupted runs the same way.

    Only the beamtime's own files are touched: DB must already be a beamtime
    (an empty or foreign file is refused, never overwritten), and a symbolic
    link (the .writers folder, the Zarr store or anything in it) or a writer
    token that is not one is never followed: it is listed as refused and the
    command exits 1. Two repairs at once, or a writer opening meanwhile, take
    turns.

    \b
    Examples:
        resonance-callback repair beamtime.db
        resonance-callback repair beamtime.db --json
    """
    from resonance_callback.store import repair_beamtime

    report = repair_beamtime(db, zarr_store=zarr_store)
    _echo_report(report, as_json)
    if report.refused:
        sys.exit(1)
