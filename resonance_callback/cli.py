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


class _RawHelp:
    r"""Let raw docstrings use click's ``\b`` (keep this paragraph as written) marker.

    Docstrings are raw (ruff D301), so they hold a backslash and ``b`` where
    click looks for the backspace character; swap one for the other.
    """

    help: str | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:
            self.help = self.help.replace("\\b\n", "\b\n")


class _Command(_RawHelp, click.Command):
    """A command of the ``resonance-callback`` group."""


class _Group(_RawHelp, click.Group):
    """The ``resonance-callback`` group; its commands are :class:`_Command`."""

    command_class = _Command


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


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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

    db_path = run_demo(directory, progress=progress)
    rows = summarize_runs(db_path)
    for row in rows:
        row["uid"] = row["uid"][:8]
    click.echo(f"Wrote {len(rows)} runs to {db_path} (frames in {db_path.with_suffix('.zarr')})")
    print_table(rows, ["uid", "scan_id", "plan_name", "sample", "exit_status", "events", "frames"])


_DB = click.Path(exists=True, dir_okay=False, path_type=Path)


@main.command()
@click.argument("db", type=_DB)
@click.argument("uid")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "tiff"]), default="jsonl",
              show_default=True, help="What to write.")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True,
              help="jsonl: a file ('-' for stdout); csv, tiff: a directory.")
@click.option("--stream", "streams", multiple=True,
              help="csv/tiff: only this stream (repeatable; default all).")
@click.option("--field", "fields", multiple=True,
              help="tiff: only this frame field (repeatable; default all).")
@click.option("--stack", is_flag=True, help="tiff: one multi-page file per field.")
@click.option("--no-fill", is_flag=True,
              help="jsonl: keep external references instead of frames copied into the store.")
@click.option("--timestamps", is_flag=True, help="csv: add a ts_<field> column per field.")
@handle_errors
def export(db: Path, uid: str, fmt: str, out: Path, streams: tuple[str, ...],
           fields: tuple[str, ...], stack: bool, no_fill: bool, timestamps: bool) -> None:
    r"""Write run UID (a uid or unique prefix) of beamtime DB out as files.

    jsonl: the run's document stream, one ["name", {doc}] per line, as it
    was emitted (frames as nested lists; NaN as {"$float": "NaN"}).
    csv: one table per stream, OUT/<stream>.csv. tiff: every frame as
    OUT/<stream>_<field>_<NNNNN>.tif, or one multi-page file per field with --stack.

    \b
    Examples:
        resonance-callback export demo/demo.db 79587e05 -o run.jsonl
        resonance-callback export demo/demo.db 79587e05 --format csv -o run-csv/
        resonance-callback export demo/demo.db 79587e05 --format tiff --stack -o frames/
    """
    from .export import export_csv, export_jsonl, export_tiff
    from .reader import open_beamtime

    with open_beamtime(db) as bt:
        run = bt[uid]
        if fmt == "jsonl":
            n = export_jsonl(run, out, fill=not no_fill)
            if str(out) != "-":
                click.echo(f"Wrote {n} documents of run {run.uid} to {out}", err=True)
            return
        if fmt == "csv":
            files = export_csv(run, out, streams=streams, timestamps=timestamps)
        else:
            files = export_tiff(run, out, streams=streams, fields=fields, stack=stack)
        click.echo(f"Wrote {len(files)} {fmt} files of run {run.uid} to {out}", err=True)


@main.command()
@click.argument("db", type=_DB)
@click.argument("uid")
@click.argument("ys", metavar="Y...", nargs=-1, required=True)
@click.option("--x", "x", help="The x field (default: the plan's hinted axis, else seq_num).")
@click.option("--stream", default="primary", show_default=True, help="The stream to plot.")
@click.option("--frame", type=int, help="For a frame field: draw this frame, not the sum.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("plot.png"), show_default=True, help="The PNG file to write.")
@handle_errors
def plot(db: Path, uid: str, ys: tuple[str, ...], x: str | None, stream: str,
         frame: int | None, out: Path) -> None:
    r"""Plot fields Y of run UID (a uid or unique prefix) of beamtime DB to a PNG.

    Value fields are drawn as lines against X. A field stored as frames
    (given alone) is drawn as an image: the sum of all frames, or one with
    --frame; a 1-D trace as a line.

    \b
    Examples:
        resonance-callback plot demo/demo.db 3d8e det -o det.png
        resonance-callback plot demo/demo.db 3d8e det --x motor -o det.png
        resonance-callback plot demo/demo.db 7958 img --frame 0 -o frame.png
    """
    from .export import plot_run
    from .reader import open_beamtime

    with open_beamtime(db) as bt:
        run = bt[uid]
        path = plot_run(run, list(ys), out, x=x, stream=stream, frame=frame)
    click.echo(f"Wrote {path}", err=True)
