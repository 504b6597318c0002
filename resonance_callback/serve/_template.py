"""A beamtime path made from a start document: ``--db-template '{beamline}/{proposal_id}.db'``.

A value put into the path must be a plain name (letters, digits, ``_.@+=-``, not
leading ``.``), a string or an integer, at most :data:`MAX_VALUE` characters, and the
path must stay under the data root; anything else raises
:class:`~resonance_callback.errors.RoutingError` naming the run and the key.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resonance_callback._confine import within
from resonance_callback.errors import RoutingError

__all__ = ["MAX_VALUE", "DbTemplate"]

#: A value put into a path by the template: a plain name, no separators, not hidden.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+=-]*$")

#: The longest value put into a path (a file name has 255 bytes at most, and the
#: beamtime's ``.zarr``, ``-wal`` and ``-shm`` siblings need room beside it).
MAX_VALUE = 200


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a message names a value, never holds it)."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= limit else text[:limit] + "..."


class DbTemplate:
    """A beamtime path made from a start document: ``"{beamline}/{proposal_id}.db"``.

    Parameters
    ----------
    template : str
        A :meth:`str.format` template naming top-level keys of the start document.
    root : path-like
        The data root; every path made lies under it.

    Raises
    ------
    ValueError
        If the template names no key, or uses attribute, index or conversion syntax
        (:class:`~resonance_callback.errors.RoutingError`).
    """

    def __init__(self, template: str, root: str | Path) -> None:
        self.template = template
        self.root = Path(root).absolute()
        try:
            fields = [f for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise RoutingError(f"db template {template!r}: {exc}") from exc
        if not fields:
            raise RoutingError(f"db template {template!r} names no key of the start document")
        for name in fields:
            if not name.isidentifier():
                raise RoutingError(f"db template {template!r}: {{{name}}} is not a plain key "
                                   "of the start document")
        if not template.endswith(".db"):
            raise RoutingError(f"db template {template!r} does not end in .db")
        self.keys = fields

    def path(self, start: Mapping[str, object]) -> Path:
        """The beamtime database of the run ``start`` opens.

        Raises
        ------
        RoutingError
            A key is missing, its value is not a plain name, or the path leaves the root.
        """
        uid = start.get("uid")
        uid = uid if isinstance(uid, str) and len(uid) <= 80 else _short(uid)
        values = {}
        for key in self.keys:
            if key not in start:
                raise RoutingError(f"run {uid}: db template {self.template!r} needs key "
                                   f"{key!r}, missing from its start document")
            value = start[key]
            text = str(value) if type(value) is str or (
                type(value) is int and abs(value) < 10**MAX_VALUE) else None
            if text is not None and len(text) > MAX_VALUE:
                raise RoutingError(f"run {uid}: key {key!r} is {len(text)} characters long, "
                                   f"more than {MAX_VALUE}: it cannot name a path in db "
                                   f"template {self.template!r}")
            if text is None or not _NAME.match(text) or text in (".", ".."):
                raise RoutingError(f"run {uid}: key {key!r} = {_short(value)} cannot name a path "
                                   f"in db template {self.template!r}")
            values[key] = text
        named = self.root / self.template.format_map(values)
        path = within(named, self.root)
        if path is None:
            raise RoutingError(f"run {uid}: db template {self.template!r} gives "
                               f"{Path(os.path.realpath(named))}, outside the data root "
                               f"{self.root}")
        return path
