"""The ``resonance-callback`` command line: a thin click group, one function per command.

Exit codes: 0 success, 1 a problem was found (``check``) or the command failed,
2 a usage error. Errors print as one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import ResonanceError

__all__ = ["main"]


class _Context:
    debug = False


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library and OS errors into one clear line and exit code 1.

    With ``--debug`` on the group the traceback is shown instead.
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ResonanceError, OSError) as exc:
            if _Context.debug:
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="resonance-callback")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def main(debug: bool) -> None:
    r"""Store Bluesky runs in a per-beamtime SQLite + Zarr store, and inspect them.

    \b
    Example:
        resonance-callback demo ./demo-beamtime
    """
    _Context.debug = debug


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print ``rows`` as an aligned text table with the given columns."""
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path),
                default=Path("demo"), required=False)
@handle_errors
def demo(directory: Path) -> None:
    r"""Run a short simulated beamtime into DIRECTORY/demo.db + demo.zarr/.

    Several plans on ophyd.sim hardware (counts, scans, a snake grid scan,
    an image detector), two samples and a baseline stream, written through
    RunWriterCallback; then prints the runs written.

    \b
    Example:
        resonance-callback demo ./demo
    """
    from .demo import run_demo, summarize_runs

    def progress(i: int, n: int, label: str) -> None:
        click.echo(f"[{i}/{n}] {label}", err=True)

    db_path, uids = run_demo(directory, progress=progress)
    rows = summarize_runs(db_path, uids)
    for row in rows:
        row["uid"] = row["uid"][:8]
    click.echo(f"Wrote {len(rows)} runs to {db_path} (frames in {db_path.with_suffix('.zarr')})")
    print_table(rows, ["uid", "scan_id", "plan_name", "sample", "exit_status", "events", "frames"])
