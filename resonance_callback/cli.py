"""The ``resonance-callback`` command line: a thin click group, one function per command.

Exit codes: 0 success, 1 a problem was found (``check``) or the command failed,
2 a usage error. Errors print as one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
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
    """Store Bluesky runs in a per-beamtime SQLite + Zarr store, and inspect them.

    \b
    Example:
        resonance-callback demo ./demo-beamtime
    """
    _Context.debug = debug
