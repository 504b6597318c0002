"""Reading commands: ``plot`` (``export`` is in ``_export_cmd``)."""

from __future__ import annotations

from pathlib import Path

import click

from resonance_callback.cli._base import handle_errors, main
from resonance_callback.cli._filters import RUN_KEY_SETTINGS

_DB = click.Path(exists=True, dir_okay=False, path_type=Path)


@main.command(context_settings=RUN_KEY_SETTINGS)
@click.argument("db", type=_DB)
@click.argument("run_key", metavar="RUN")
@click.argument("ys", metavar="Y...", nargs=-1, required=True)
@click.option("--x", "x", help="The x field (default: the plan's hinted axis, else seq_num).")
@click.option("--stream", default="primary", show_default=True, help="The stream to plot.")
@click.option("--frame", type=int, help="For a frame field: draw this frame, not the sum.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("plot.png"), show_default=True, help="The PNG file to write.")
@handle_errors
def plot(db: Path, run_key: str, ys: tuple[str, ...], x: str | None, stream: str,
         frame: int | None, out: Path) -> None:
    r"""Plot fields Y of RUN of beamtime DB to a PNG; RUN is a uid, a prefix, a scan_id or -N.

    Value fields are drawn as lines against X. A field stored as frames
    (given alone) is drawn as an image: the sum of all frames, or one with
    --frame; a 1-D trace as a line.

    \b
    Examples:
        resonance-callback plot demo/demo.db 3d8e det -o det.png
        resonance-callback plot demo/demo.db 3d8e det --x motor -o det.png
        resonance-callback plot demo/demo.db 7958 img --frame 0 -o frame.png
        resonance-callback plot demo/demo.db -1 det -o latest.png
    """
    from resonance_callback.read import open_beamtime, plot_run

    with open_beamtime(db) as bt:
        run = bt[run_key]
        path = plot_run(run, list(ys), out, x=x, stream=stream, frame=frame)
    click.echo(f"Wrote {path}", err=True)

