"""Reading commands: ``export`` and ``plot``."""

from __future__ import annotations

from pathlib import Path

import click

from resonance_callback.cli._base import handle_errors, main
from resonance_callback.cli._filters import RUN_KEY_SETTINGS

_DB = click.Path(exists=True, dir_okay=False, path_type=Path)


@main.command(context_settings=RUN_KEY_SETTINGS)
@click.argument("db", type=_DB)
@click.argument("run_key", metavar="RUN")
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
def export(db: Path, run_key: str, fmt: str, out: Path, streams: tuple[str, ...],
           fields: tuple[str, ...], stack: bool, no_fill: bool, timestamps: bool) -> None:
    r"""Write RUN of beamtime DB out as files; RUN is a uid, a unique prefix, a scan_id or -N.

    jsonl: the run's document stream, one ["name", {doc}] per line, as it
    was emitted (frames as nested lists; NaN as {"$float": "NaN"}).
    csv: one table per stream, OUT/<stream>.csv. tiff: every frame as
    OUT/<stream>_<field>_<NNNNN>.tif, or one multi-page file per field with --stack.

    \b
    Examples:
        resonance-callback export demo/demo.db 79587e05 -o run.jsonl
        resonance-callback export demo/demo.db 79587e05 --format csv -o run-csv/
        resonance-callback export demo/demo.db 79587e05 --format tiff --stack -o frames/
        resonance-callback export demo/demo.db -1 -o latest.jsonl
    """
    from resonance_callback.read import export_csv, export_jsonl, export_tiff, open_beamtime

    with open_beamtime(db) as bt:
        run = bt[run_key]
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


@main.command(context_settings=RUN_KEY_SETTINGS)
@click.argument("db", type=_DB)
@click.argument("keys", metavar="RUN [RUN|Y...]", nargs=-1, required=True)
@click.option("--y", "ys", multiple=True, metavar="FIELD",
              help="A field to draw (repeatable; default the plan's hinted detectors).")
@click.option("--x", "x", help="The x field (default: the plan's hinted axis, else seq_num; "
              "given, a grid scan is drawn as lines).")
@click.option("--stream", default="primary", show_default=True, help="The stream to plot.")
@click.option("--frame", type=int, help="For a frame field: draw this frame, not the sum.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("plot.png"), show_default=True, help="The PNG file to write.")
@handle_errors
def plot(db: Path, keys: tuple[str, ...], ys: tuple[str, ...], x: str | None, stream: str,
         frame: int | None, out: Path) -> None:
    r"""Plot RUN of beamtime DB to a PNG as BestEffortCallback would draw it.

    RUN is a uid, a unique prefix, a scan_id or -N. With no field named,
    the hinted detectors are drawn against the plan's hinted axis; a 2-D
    grid scan as a heat map. More RUNs are overlaid, one line each. After
    the first RUN, an argument naming a field of its stream is a Y field,
    anything else another RUN; --y always names a field. A field stored as
    frames (given alone, or the only one hinted) is drawn as an image: the
    sum of all frames, or one with --frame; a 1-D trace as a line.

    \b
    Examples:
        resonance-callback plot demo/demo.db 4 -o grid.png
        resonance-callback plot demo/demo.db 2 3 -o overlaid.png
        resonance-callback plot demo/demo.db 3d8e det --x motor -o det.png
        resonance-callback plot demo/demo.db 7958 img --frame 0 -o frame.png
    """
    from resonance_callback.read import open_beamtime, plot_run, resolve_plot_keys

    with open_beamtime(db) as bt:
        runs, fields = resolve_plot_keys(bt, keys, stream)
        path = plot_run(runs, [*fields, *ys], out, x=x, stream=stream, frame=frame)
    click.echo(f"Wrote {path}", err=True)
