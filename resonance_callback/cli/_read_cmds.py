"""Reading commands: ``plot`` (``export`` is in ``_export_cmd``)."""

from __future__ import annotations

from pathlib import Path

import click

from resonance_callback.cli._base import handle_errors, main
from resonance_callback.cli._filters import RUN_KEY_SETTINGS

_DB = click.Path(exists=True, dir_okay=False, path_type=Path)


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
