"""The command-line type of a master index: a file path, or a ``postgresql://`` URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from resonance_callback.index import is_index_url

__all__ = ["IndexTarget"]


class IndexTarget(click.ParamType):  # type: ignore[type-arg]
    """An index file (checked as ``click.Path`` checks it) or a PostgreSQL URL, passed as is.

    Parameters
    ----------
    exists : bool, optional
        The file must exist (a URL is checked when it is used).
    dir_okay : bool, optional
        A directory is accepted too (``serve-tiled`` serves one).
    """

    name = "index"

    def __init__(self, *, exists: bool = False, dir_okay: bool = False) -> None:
        self._path = click.Path(exists=exists, dir_okay=dir_okay, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Path | str:
        """Return the URL unchanged, or the path as ``click.Path`` gives it."""
        if isinstance(value, str) and is_index_url(value):
            return value
        converted: Path = self._path.convert(value, param, ctx)
        return converted
