"""The ``resonance-callback`` group, error handling and table output shared by every command.

Exit codes: 0 success, 1 a problem was found (``check``) or the command failed,
2 a usage error. Errors print as one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol

import click

from resonance_callback import __version__
from resonance_callback.errors import ResonanceError

__all__ = ["FRAMES_HELP", "handle_errors", "main"]

#: ``--frames URL`` of the commands that write a beamtime (demo, replay, serve).
FRAMES_HELP = ("Where frames go: s3://bucket/prefix (endpoint and credentials from the AWS_* "
               "environment variables: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, "
               "AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP), or a folder; default: "
               "the one the beamtime records, else its .zarr beside it.")

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



class _Report(Protocol):
    def to_dict(self) -> dict[str, Any]: ...
    def lines(self) -> list[str]: ...


def _echo_report(report: _Report, as_json: bool) -> None:
    """Print a ``check`` or ``repair`` report: its lines, or one JSON object."""
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo("\n".join(report.lines()))
