"""``resonance-callback check``: integrity, frames, unresolved and rejected documents."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from resonance_callback.cli._base import _echo_report, handle_errors, main


@main.command()
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--zarr", "zarr_store", type=click.Path(file_okay=False, path_type=Path),
              help="The frame store, if not DB's stem + .zarr beside it.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@handle_errors
def check(db: Path, zarr_store: Path | None, as_json: bool) -> None:
    """Check beamtime DB and its frames; exit 1 if a problem is found, else 0.

    Runs SQLite's integrity check, checks that every image_refs row points
    to a stored frame, and lists detector frames that could not be read
    (unresolved_frames), runs left open (no exit status) and rejected
    documents.

    \b
    Examples:
        resonance-callback check demo/demo.db
        resonance-callback check beamtime.db --json
    """
    from resonance_callback.read import check_beamtime

    report = check_beamtime(db, zarr_store=zarr_store)
    _echo_report(report, as_json)
    sys.exit(0 if report.ok else 1)

