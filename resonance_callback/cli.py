"""The ``resonance-callback`` command line: a thin click group, one function per command.

Exit codes: 0 success, 1 a problem was found (``check``) or the command failed,
2 a usage error. Errors print as one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from . import __version__, jsoncodec
from .errors import IndexEntryError, IndexLookupError, ResonanceError
from .index import IndexWriter
from .index_rebuild import read_beamtime_runs, reindex
from .index_search import parse_time, search

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
    columns = ["uid", "scan_id", "plan_name", "sample", "exit_status", "events", "frames"]
    click.echo(f"Wrote {len(rows)} runs to {db_path} (frames in {db_path.with_suffix('.zarr')})")
    click.echo(_table(columns, [[str(row["uid"])[:8], *(str(row[c]) for c in columns[1:])]
                                for row in rows]))
def _time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check a ``--since`` / ``--until`` value early, as a usage error."""
    if value is not None:
        try:
            parse_time(value)
        except IndexEntryError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def _where_option(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """Turn repeated ``--where KEY=VALUE`` into a dict."""
    where = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        where[key.strip()] = value
    return where


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """Format ``rows`` as left-aligned columns under ``headers``."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=False)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    )


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


@main.group("index")
def index_group() -> None:
    """Manage the master index that lists runs across beamtimes and researchers.

    \b
    Example:
        resonance-callback index add-beamtime index.db alice/2026-03.db \\
            --researcher "Alice Smith" --root alice
        resonance-callback search index.db --sample PS-1
    """


@index_group.command("add-beamtime")
@click.argument("index", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--researcher", required=True,
              help="Name of the researcher the beamtime belongs to.")
@click.option("--root", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The researcher's root directory; DB must lie under it.")
@click.option("--label", help="Beamtime label [default: the label it has, else DB's name].")
@handle_errors
def index_add_beamtime(
    index: Path, db: Path, researcher: str, root: Path, label: str | None
) -> None:
    """Register a beamtime database in INDEX and index all its runs.

    INDEX is created if missing. Running it again updates the runs.

    \b
    Example:
        resonance-callback index add-beamtime index.db alice/2026-03.db \\
            --researcher "Alice Smith" --root alice --label 2026-03
    """
    summaries = read_beamtime_runs(db)
    starts = [s.time_start for s in summaries if s.time_start is not None]
    with IndexWriter(index) as writer:
        researcher_id = writer.register_researcher(researcher, root)
        if label is None:
            try:
                label = writer.find_beamtime(db).label
            except IndexLookupError:
                label = db.stem
        beamtime_id = writer.register_beamtime(
            researcher_id, label, db, time_start=min(starts) if starts else None
        )
        written, removed = writer.sync_beamtime(beamtime_id, summaries)
    click.echo(
        f"Indexed {written} runs of beamtime {label!r} ({db}) for {researcher} in {index}"
        + (f"; removed {removed} runs no longer in it" if removed else "")
    )


@index_group.command("move-researcher")
@click.argument("index", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("researcher")
@click.argument("new_root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--root", "old_root", type=click.Path(file_okay=False, path_type=Path),
              help="The old root, if several researchers share the name.")
@handle_errors
def index_move_researcher(
    index: Path, researcher: str, new_root: Path, old_root: Path | None
) -> None:
    """Point RESEARCHER's beamtimes at NEW_ROOT after their tree was moved or mounted elsewhere.

    \b
    Example:
        resonance-callback index move-researcher index.db "Alice Smith" /mnt/archive/alice
    """
    with IndexWriter(index) as writer:
        writer.move_researcher(writer.find_researcher(researcher, old_root), new_root)
        moved = [b for b in writer.beamtimes() if b.researcher == researcher
                 and Path(b.root_path) == new_root.expanduser().resolve()]
    missing = [b for b in moved if not b.db_path.is_file()]
    click.echo(f"{researcher}'s {len(moved)} beamtimes now resolve under {new_root}")
    for beamtime in missing:
        click.echo(f"Warning: no beamtime database at {beamtime.db_path}", err=True)


@index_group.command("remove-beamtime")
@click.argument("index", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@handle_errors
def index_remove_beamtime(index: Path, db: Path) -> None:
    """Remove the beamtime database DB, and its runs, from INDEX (DB itself is left alone).

    \b
    Example:
        resonance-callback index remove-beamtime index.db alice/2026-03.db
    """
    with IndexWriter(index) as writer:
        removed = writer.remove_beamtime(db)
    click.echo(f"Removed {db} and its {removed} runs from {index}")


@main.command("reindex")
@click.argument("index", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@handle_errors
def reindex_command(index: Path) -> None:
    """Rebuild INDEX from its registered beamtime databases, the source of truth.

    Runs are added or updated, and runs no longer in their beamtime database
    are removed. A beamtime database that cannot be read is reported (exit
    code 1) and its runs are kept; the others are still reindexed.

    \b
    Example:
        resonance-callback reindex index.db
    """
    report = reindex(index)
    click.echo(
        f"Reindexed {report.runs_indexed} runs from {report.beamtimes} beamtimes in {index}"
        + (f"; removed {report.runs_removed} runs no longer stored" if report.runs_removed else "")
    )
    for problem in report.problems:
        click.echo(f"Error: {problem}", err=True)
    if not report.ok:
        sys.exit(1)


@main.command("search")
@click.argument("index", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sample", help="Sample name (* ? [..] wildcards).")
@click.option("--plan", help="Plan name (* ? [..] wildcards).")
@click.option("--researcher", help="Researcher name (* ? [..] wildcards).")
@click.option("--since", callback=_time_option,
              help="Started at or after: ISO date/time or unix time.")
@click.option("--until", callback=_time_option,
              help="Started before: ISO date/time or unix time (a date includes that day).")
@click.option("--tag", help="Runs carrying this tag (* ? [..] wildcards).")
@click.option("--where", "where", multiple=True, callback=_where_option, metavar="KEY=VALUE",
              help="Start-document KEY (dotted for nested) equals, or lists, VALUE. Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, for scripts.")
@handle_errors
def search_command(
    index: Path,
    sample: str | None,
    plan: str | None,
    researcher: str | None,
    since: str | None,
    until: str | None,
    tag: str | None,
    where: dict[str, str],
    as_json: bool,
) -> None:
    """List the runs in INDEX that match every filter given, newest first.

    \b
    Example:
        resonance-callback search index.db --sample PS-1 --since 2026-03-01
        resonance-callback search index.db --where proposal=12345 --json
    """
    runs = search(index, sample=sample, plan=plan, researcher=researcher, since=since,
                  until=until, tag=tag, where=where)
    if as_json:
        click.echo(jsoncodec.dumps([run.to_dict() for run in runs]))
        return
    if not runs:
        click.echo("No runs match.", err=True)
        return
    headers = ["START", "SCAN", "UID", "PLAN", "SAMPLE", "STATUS", "RESEARCHER", "BEAMTIME",
               "DATABASE"]
    rows = [
        [_when(run.time_start), "-" if run.scan_id is None else str(run.scan_id), run.uid[:8],
         run.plan_name or "-", run.sample_name or "-", run.exit_status or "open",
         run.researcher, run.beamtime, str(run.db_path)]
        for run in runs
    ]
    click.echo(_table(headers, rows))


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
    from .check import check_beamtime

    report = check_beamtime(db, zarr_store=zarr_store)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo("\n".join(report.lines()))
    sys.exit(0 if report.ok else 1)


# Commands kept in modules of their own register themselves on ``main`` when imported.
from . import cli_inspect, cli_replay  # noqa: E402, F401
