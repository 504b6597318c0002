"""Path confinement: whether a path stays inside a root, decided in one place.

Three packages keep paths inside a directory: ``external/`` (the files a
resource or a stream resource names stay under the allowed roots, or under
the resource's own directory; a file-name template stays in its directory),
``serve/`` (a beamtime routed by a ``--db-template`` stays under the data
root) and ``tiled_server/`` (a beamtime served from a directory stays inside
the served directory). Each asks :func:`within`; ``external/`` also refuses
a ``..`` component before anything is joined (:func:`has_traversal`).

The rule: a path is within a root when, after normalisation, it is the root
or lies below it, compared by whole components (``/data2`` is not within
``/data``). Normalisation is either

- real (``resolve=True``, the default): both are made absolute and their
  symlinks resolved (:func:`os.path.realpath`), so a link inside the root
  that points out of it is outside; this is what decides before a file is
  opened or a database created;
- lexical (``resolve=False``): ``..`` and repeated separators are folded
  (:func:`os.path.normpath`) without asking the file system, for paths that
  are not files yet (a file name formatted from an area-detector template:
  ``"/%s%s_%5.5d.tif" % (directory + "/", name, n)`` begins with a doubled
  separator, which folds away as on Linux, and stays inside ``directory``).

This module sits below every feature package (like ``_sqlite`` and ``_time``),
so ``external`` and the serving packages above it share it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["has_traversal", "within"]

_SEPARATORS = re.compile(r"[\\/]")


def has_traversal(path: str) -> bool:
    """Return whether ``path`` has a ``..`` component (``/`` or ``\\`` separating).

    Parameters
    ----------
    path : str
        A path as a document or a template gave it.

    Returns
    -------
    bool
    """
    return ".." in _SEPARATORS.split(path)


def _fold(path: str | os.PathLike[str]) -> str:
    """``os.path.normpath``, and a leading ``//`` (kept by POSIX's rule) folded to ``/``."""
    text = os.path.normpath(path)
    return "/" + text.lstrip("/") if text.startswith("//") else text


def within(path: str | os.PathLike[str], root: str | os.PathLike[str], *,
           resolve: bool = True) -> Path | None:
    """Return ``path`` normalised if it is ``root`` or lies below it, else None.

    Parameters
    ----------
    path : str or PathLike
        The path to check; relative paths are relative to the working
        directory when ``resolve`` (else compared as they are).
    root : str or PathLike
        The directory it must stay in.
    resolve : bool, optional
        Resolve symlinks of both first (the default), or fold ``..`` and
        separators only (see the module's description).

    Returns
    -------
    Path or None
        The normalised path (real when ``resolve``) when it is within ``root``;
        None when it is not.
    """
    norm = os.path.realpath if resolve else _fold
    inner, outer = Path(norm(path)), Path(norm(root))
    if inner == outer or outer in inner.parents:
        return inner
    return None
