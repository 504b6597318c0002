"""The tree a server serves, from what PATH is: a beamtime, a directory, or a master index.

- a beamtime ``.db``: its runs at the top of the tree (``client[uid]``);
- a directory: one container per beamtime ``.db`` found in it (recursively),
  keyed by its path relative to the directory without ``.db``
  (``client["2026-03/beamtime"][uid]``); beamtimes added later appear;
- a master index: every indexed run at the top, by uid, searched on the
  metadata the index keeps; a run's streams are read from its beamtime.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from resonance_callback import _sqlite as schema
from resonance_callback.errors import NotABeamtimeError, StorageError
from resonance_callback.index import IndexCatalog
from resonance_callback.read import Beamtime, open_beamtime
from resonance_callback.tiled_server._nodes import (
    CATALOG_SPEC,
    Lazy,
    LiveContainer,
    beamtime_node,
    exact_run,
    run_node,
)

__all__ = ["build_tree"]

class _Beamtimes:
    """Beamtimes opened once, read-only, shared by every request."""

    def __init__(self) -> None:
        self._open: dict[Path, Beamtime] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> Beamtime:
        with self._lock:
            if path not in self._open:
                self._open[path] = open_beamtime(path)
            return self._open[path]


def _is_index(path: Path) -> bool:
    try:
        schema.connect(path, "index", readonly=True).close()
    except (sqlite3.DatabaseError, OSError):
        return False
    return True


def _directory_node(root: Path, beamtimes: _Beamtimes) -> LiveContainer:
    def keys() -> list[str]:
        found = []
        for db in sorted(root.rglob("*.db")):
            if not _is_index(db):
                found.append(db.relative_to(root).with_suffix("").as_posix())
        return found

    def get(key: str) -> LiveContainer:
        path = (root / f"{key}.db").resolve()
        if root.resolve() not in path.parents or not path.is_file():
            raise KeyError(key)
        try:
            return beamtime_node(beamtimes.get(path))
        except (NotABeamtimeError, StorageError) as exc:
            raise KeyError(key) from exc

    return LiveContainer(Lazy(keys, get), metadata={"directory": str(root)})


def _index_node(index: Path, beamtimes: _Beamtimes) -> LiveContainer:
    def uids() -> list[str]:
        return list(reversed(list(IndexCatalog(index))))

    def get(uid: str) -> LiveContainer:
        catalog = IndexCatalog(index)
        if uid not in catalog:
            raise KeyError(uid)
        return run_node(exact_run(beamtimes.get(catalog[uid].db_path), uid))

    class IndexContainer(LiveContainer):
        def search(self, query: Any) -> Any:
            # Answered from the index's own metadata: no beamtime is opened to search.
            catalog = IndexCatalog(index)
            keys = set(self._mapping)
            try:
                found = catalog.search(query)
            except ValueError:
                return super().search(query)
            kept = {uid: self._mapping[uid] for uid in reversed(list(found)) if uid in keys}
            return self.new_variation(mapping=kept)

    return IndexContainer(Lazy(uids, get), metadata={"index": str(index)},
                          specs=[CATALOG_SPEC])


def build_tree(path: str | Path) -> LiveContainer:
    """Return the Tiled tree over a beamtime, a directory of beamtimes, or a master index.

    Parameters
    ----------
    path : str or Path
        A beamtime ``.db``, a directory holding beamtimes, or a master index.

    Returns
    -------
    tiled adapter
        The root container.

    Raises
    ------
    OSError
        If ``path`` does not exist (:class:`StorageError`).
    sqlite3.DatabaseError
        If the file is neither a beamtime nor an index (:class:`NotABeamtimeError`).
    """
    where = Path(path)
    beamtimes = _Beamtimes()
    if where.is_dir():
        return _directory_node(where, beamtimes)
    if not where.is_file():
        raise StorageError(f"nothing to serve at {where}: no such file or directory")
    if _is_index(where):
        return _index_node(where, beamtimes)
    return beamtime_node(beamtimes.get(where))
