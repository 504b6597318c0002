"""A directory of beamtimes as a Tiled tree: one container per beamtime, one per subdirectory.

A directory's children are its beamtimes (``x.db`` as ``x``) and its
subdirectories that hold beamtimes (by name), so a beamtime is addressed by
its path without ``.db``: ``client["2026-03/beamtime"]`` is
``client["2026-03"]["beamtime"]``. What cannot be served is skipped, never
an error for the others: a ``.db`` that is not a regular file, that leads out
of the served directory, that is a master index, or that does not open as a
beamtime; a subdirectory named as a beamtime beside it. Each is logged once
and listed, with its reason, in the directory's metadata under ``skipped``.
Hidden directories and Zarr stores (``*.zarr``) are not searched.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from resonance_callback import _sqlite as schema
from resonance_callback._confine import within
from resonance_callback.read import Beamtime, open_beamtime
from resonance_callback.tiled_server._container import Lazy, LiveContainer
from resonance_callback.tiled_server._nodes import beamtime_node

__all__ = ["Beamtimes", "directory_node", "is_index"]

logger = logging.getLogger("resonance_callback.tiled_server")

#: How deep below a directory a beamtime is looked for, to list the directory.
MAX_DEPTH = 8


def is_index(path: Path) -> bool:
    """Return whether ``path`` is a master index."""
    try:
        schema.connect(path, "index", readonly=True).close()
    except (sqlite3.DatabaseError, OSError):
        return False
    return True


def _signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


class Beamtimes:
    """Beamtimes opened once, read-only, shared by every request; broken files remembered."""

    def __init__(self) -> None:
        self._open: dict[Path, Beamtime] = {}
        self._broken: dict[Path, tuple[tuple[int, int, int], str]] = {}
        self._told: set[tuple[Path, str]] = set()
        self._lock = threading.Lock()

    def get(self, path: Path) -> Beamtime:
        """Return the beamtime at ``path``, opening it the first time."""
        with self._lock:
            if path not in self._open:
                self._open[path] = open_beamtime(path)
            return self._open[path]

    def refusal(self, path: Path, top: Path) -> str | None:
        """Return why ``path`` cannot be served as a beamtime below ``top``, or None.

        Each file refused is logged once (again if its reason changes).
        """
        reason = self._reason(path, top)
        if reason is not None:
            with self._lock:
                first = (path, reason) not in self._told
                self._told.add((path, reason))
            if first:
                logger.warning("serve-tiled: skipping %s: %s", path, reason)
        return reason

    def _reason(self, path: Path, top: Path) -> str | None:
        real = within(path, top)
        if real is None or real == top:
            return "leads out of the served directory"
        if not real.is_file():
            return "not a regular file"
        with self._lock:
            if real in self._open:
                return None
            signature = _signature(real)
            known = self._broken.get(real)
            if known is not None and known[0] == signature:
                return known[1]
            reason = self._try_open(real)
            if reason is None:
                self._broken.pop(real, None)
            else:
                self._broken[real] = (signature, reason)
            return reason

    def _try_open(self, real: Path) -> str | None:
        if is_index(real):
            return "a master index, not a beamtime (serve it on its own)"
        try:
            beamtime = open_beamtime(real)
        except (sqlite3.Error, OSError, ValueError) as exc:
            return _one_line(exc)
        try:
            len(beamtime)
        except (sqlite3.Error, OSError, ValueError) as exc:
            beamtime.close()
            return _one_line(exc)
        self._open[real] = beamtime
        return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _holds_beamtimes(directory: Path, depth: int) -> bool:
    """Return whether a ``.db`` file is somewhere below ``directory`` (symlinks not followed)."""
    if depth > MAX_DEPTH:
        return False
    try:
        with os.scandir(directory) as entries:
            subdirs = []
            for entry in entries:
                if entry.name.endswith(".db") and not entry.is_dir(follow_symlinks=False):
                    return True
                if _searched(entry):
                    subdirs.append(Path(entry.path))
    except OSError:
        return False
    return any(_holds_beamtimes(sub, depth + 1) for sub in subdirs)


def _searched(entry: os.DirEntry[str]) -> bool:
    return (entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".")
            and not entry.name.endswith((".zarr", ".db")))


def _scan(root: Path, top: Path, beamtimes: Beamtimes,
          depth: int) -> tuple[dict[str, Path], dict[str, str]]:
    """Return the children of ``root`` (key to path) and what was skipped (name to reason)."""
    found: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    subdirs: list[Path] = []
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        return found, {".": _one_line(exc)}
    for entry in entries:
        path = Path(entry.path)
        if entry.name.endswith(".db"):
            reason = beamtimes.refusal(path, top)
            if reason is None:
                found[entry.name[:-3]] = path
            else:
                skipped[entry.name] = reason
        elif _searched(entry) and _holds_beamtimes(path, depth + 1):
            subdirs.append(path)
    for sub in subdirs:
        if sub.name in found:
            skipped[f"{sub.name}/"] = f"a beamtime of the same name ({sub.name}.db) is here"
        else:
            found[sub.name] = sub
    return dict(sorted(found.items())), skipped


def directory_node(root: Path, beamtimes: Beamtimes, *, top: Path | None = None,
                   depth: int = 0) -> LiveContainer:
    """Return the Tiled node of a directory of beamtimes (see the module's description)."""
    top = top if top is not None else root.resolve()

    def keys() -> list[str]:
        return list(_scan(root, top, beamtimes, depth)[0])

    def get(key: str) -> LiveContainer:
        if not key or key in (".", "..") or "/" in key or "\0" in key:
            raise KeyError(key)
        db = root / f"{key}.db"
        if os.path.lexists(db):
            if beamtimes.refusal(db, top) is not None:
                raise KeyError(key)
            return beamtime_node(beamtimes.get(db.resolve()))
        sub = root / key
        searched = (not sub.is_symlink() and sub.is_dir() and not key.startswith(".")
                    and not key.endswith(".zarr"))
        if not searched or not _holds_beamtimes(sub, depth + 1):
            raise KeyError(key)
        return directory_node(sub, beamtimes, top=top, depth=depth + 1)

    def metadata() -> dict[str, Any]:
        return {"directory": str(root), "skipped": _scan(root, top, beamtimes, depth)[1]}

    return LiveContainer(Lazy(keys, get), lazy_metadata=metadata)
