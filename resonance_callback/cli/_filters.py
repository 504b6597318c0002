"""The options every command that lists runs shares (``runs``, ``search``), and run keys.

They map one to one onto the store's run filter, so ``runs`` on a beamtime and
``search`` on the master index read ``--sample 'gold*'`` or ``--where k=v``
the same way :meth:`Beamtime.runs <resonance_callback.read.Beamtime.runs>` does.
``--where`` values stay strings: a string that reads as a JSON number,
``true``, ``false`` or ``null`` also matches that value (the filter's rule).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from resonance_callback.errors import FilterError
from resonance_callback.store import STATUS_FILTERS, time_bound

__all__ = ["RUN_KEY_SETTINGS", "filter_options"]

F = TypeVar("F", bound=Callable[..., Any])

#: Let a run argument be ``-1``: click would read it as an unknown option.
RUN_KEY_SETTINGS = {"ignore_unknown_options": True}


def _time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check a ``--since`` / ``--until`` value early, as a usage error."""
    if value is not None:
        what = param.name or "since"
        try:
            time_bound(value, what)
        except FilterError as exc:
            raise click.BadParameter(str(exc).removeprefix(f"{what}: ")) from None
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


_OPTIONS = [
    click.option("--sample", help="Sample name; * ? [..] are wildcards, else exact."),
    click.option("--plan", help="Plan name; * ? [..] are wildcards, else exact."),
    click.option("--status", type=click.Choice(STATUS_FILTERS),
                 help="Exit status; 'open' for runs with none (running, or cut off)."),
    click.option("--since", callback=_time_option,
                 help="Started at or after: ISO date/time or unix time."),
    click.option("--until", callback=_time_option,
                 help="Started before: ISO date/time or unix time (a date includes that day)."),
    click.option("--scan-id", "scan_id", type=int, help="The start document's scan_id."),
    click.option("--tag", help="Runs carrying this tag (* ? [..] wildcards)."),
    click.option("--where", "where", multiple=True, callback=_where_option, metavar="KEY=VALUE",
                 help="Start-document KEY (dotted for nested) equals, or lists, VALUE; a VALUE "
                      "that reads as a number, true, false or null matches it too. Repeatable."),
]


def filter_options(func: F) -> F:
    """Add the run filter's options (``--sample`` ... ``--where``) to a command."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func
