"""The ``serve-tiled`` command: a Tiled server over beamtimes or the master index."""

from __future__ import annotations

import re
from pathlib import Path

import click

from resonance_callback.cli._base import handle_errors, main
from resonance_callback.cli._index_arg import IndexTarget
from resonance_callback.index import shown_index

__all__ = ["serve_tiled"]


@main.command("serve-tiled")
@click.argument("path", type=IndexTarget(exists=True, dir_okay=True))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on.")
@click.option("--api-key", help="The key clients must give (letters and digits); without it "
              "every route answers 401 but /healthz and /api/v1/ (the server's description). "
              "This or --public is needed.")
@click.option("--public", is_flag=True, help="Let anyone who reaches the port read every run "
              "and frame, without a key.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes behind the port (each stateless over the same files "
                   "or index; one that dies is replaced).")
@handle_errors
def serve_tiled(path: Path | str, host: str, port: int, api_key: str | None, public: bool,
                workers: int) -> None:
    r"""Serve PATH read-only over Tiled: a beamtime .db, a directory of them, or a master index.

    A master index is a file, or a postgresql:// URL.

    Runs appear in TiledWriter's layout (BlueskyRun, its BlueskyEventStreams),
    so tiled.client.from_uri with bluesky-tiled-plugins reads them; runs
    written while the server runs appear. Needs the tiled extra.

    Give --api-key KEY (clients must give it) or --public (anyone may read).

    In a browser, http://HOST:PORT/ opens the browser view (/view/): the runs
    by scan_id, plan, sample, start and exit status, a run's streams, a line
    plot of a stream, its frames; with --api-key the page asks for the key.
    Tiled's own UI stays at /ui/.

    --workers N runs N server processes behind the port (e.g. over a
    postgresql:// index, several hosts' servers behind a load balancer).

    \b
    Example:
        resonance-callback serve-tiled beamtime.db --port 8000 --api-key secret
        # then open http://127.0.0.1:8000/ in a browser, or, in Python:
        #   from tiled.client import from_uri
        #   c = from_uri("http://127.0.0.1:8000", api_key="secret")
        #   c[-1]["primary"].read()
    """
    if api_key is not None and public:
        raise click.UsageError("give --api-key or --public, not both")
    if api_key is None and not public:
        raise click.UsageError("give --api-key KEY (clients must give it) or --public "
                               "(anyone may read)")
    if api_key is not None and not re.fullmatch(r"[A-Za-z0-9]+", api_key):
        raise click.UsageError("--api-key must be letters and digits only")
    from resonance_callback.tiled_server import build_app, run_app, run_workers

    line = (f"Serving {shown_index(path)} at http://{host}:{port}" + (" (public)" if public else "")
            + (f" with {workers} worker processes" if workers > 1 else "")
            + f"; in a browser: http://{host}:{port}/view/; Ctrl-C stops.")
    if workers > 1:
        click.echo(line, err=True)
        run_workers(path, workers=workers, host=host, port=port, api_key=api_key, public=public)
        return
    app = build_app(path, api_key=api_key, public=public)
    click.echo(line, err=True)
    run_app(app, host=host, port=port)
