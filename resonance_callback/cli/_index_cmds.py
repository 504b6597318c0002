"""The master index commands: ``index ...``, ``reindex``, ``search``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from resonance_callback import jsoncodec
from resonance_callback.cli._base import _table, _when, handle_errors, main
from resonance_callback.cli._filters import filter_options
from resonance_callback.cli._index_arg import IndexTarget
from resonance_callback.errors import IndexLookupError
from resonance_callback.index import IndexWriter, read_beamtime_runs, reindex, search


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
@click.argument("index", type=IndexTarget())
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--researcher", required=True,
              help="Name of the researcher the beamtime belongs to.")
@click.option("--root", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The researcher's root directory; DB must lie under it.")
@click.option("--label", help="Beamtime label [default: the label it has, else DB's name].")
@handle_errors
def index_add_beamtime(
    index: Path | str, db: Path, researcher: str, root: Path, label: str | None
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
@click.argument("index", type=IndexTarget(exists=True))
@click.argument("researcher")
@click.argument("new_root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--root", "old_root", type=click.Path(file_okay=False, path_type=Path),
              help="The old root, if several researchers share the name.")
@handle_errors
def index_move_researcher(
    index: Path | str, researcher: str, new_root: Path, old_root: Path | None
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
@click.argument("index", type=IndexTarget(exists=True))
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@handle_errors
def index_remove_beamtime(index: Path | str, db: Path) -> None:
    """Remove the beamtime database DB, and its runs, from INDEX (DB itself is left alone).

    \b
    Example:
        resonance-callback index remove-beamtime index.db alice/2026-03.db
    """
    with IndexWriter(index) as writer:
        removed = writer.remove_beamtime(db)
    click.echo(f"Removed {db} and its {removed} runs from {index}")


@main.command("reindex")
@click.argument("index", type=IndexTarget(exists=True))
@handle_errors
def reindex_command(index: Path | str) -> None:
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
@click.argument("index", type=IndexTarget(exists=True))
@filter_options
@click.option("--researcher", help="Researcher name; * ? [..] are wildcards, else exact.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, for scripts.")
@handle_errors
def search_command(
    index: Path | str,
    sample: str | None,
    plan: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    scan_id: int | None,
    tag: str | None,
    where: dict[str, str],
    researcher: str | None,
    as_json: bool,
) -> None:
    """List the runs in INDEX that match every filter given, newest first.

    The filters mean what they mean for the ``runs`` command on one beamtime.

    \b
    Example:
        resonance-callback search index.db --sample PS-1 --since 2026-03-01
        resonance-callback search index.db --where proposal=12345 --json
    """
    runs = search(index, sample=sample, plan=plan, researcher=researcher, since=since,
                  until=until, tag=tag, where=where, exit_status=status, scan_id=scan_id)
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


