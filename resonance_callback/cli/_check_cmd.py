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
@click.option("--ack", is_flag=True,
              help="Record every problem found as seen (acknowledged): later checks list "
                   "it as acknowledged and exit 0 unless a new problem appears.")
@click.option("--note", default=None, help="With --ack: why, kept with each acknowledgement.")
@handle_errors
def check(db: Path, zarr_store: Path | None, as_json: bool, ack: bool,
          note: str | None) -> None:
    """Check beamtime DB and its frames; exit 1 if a new problem is found, else 0.

    Runs SQLite's integrity check, checks that every image_refs row points
    to a stored frame, and lists detector frames that could not be read
    (unresolved_frames), runs left open (no exit status) and rejected
    documents. Problems acknowledged with --ack are listed as acknowledged
    and do not fail the check; a new one does, of the same kind or not.
    Damage to the database itself is never acknowledged.

    \b
    Examples:
        resonance-callback check demo/demo.db
        resonance-callback check beamtime.db --json
        resonance-callback check beamtime.db --ack --note "run 12 crashed: known"
    """
    from resonance_callback.read import acknowledge_problems, check_beamtime

    if note is not None and not ack:
        raise click.UsageError("--note goes with --ack")
    report = (acknowledge_problems(db, zarr_store=zarr_store, note=note) if ack
              else check_beamtime(db, zarr_store=zarr_store))
    _echo_report(report, as_json)
    sys.exit(0 if report.ok else 1)

