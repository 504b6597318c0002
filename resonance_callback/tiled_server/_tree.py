"""The tree a server serves, from what PATH is: a beamtime, a directory, or a master index.

- a beamtime ``.db``: its runs at the top of the tree (``client[uid]``);
- a directory: one container per beamtime ``.db`` in it, one per
  subdirectory holding beamtimes, so a beamtime is at its path relative to
  the directory without ``.db`` (``client["2026-03/beamtime"][uid]``);
  beamtimes added later appear; what cannot be served is skipped and listed
  in the directory's metadata (:mod:`._directory`);
- a master index: every indexed run at the top, by uid, searched on the
  metadata the index keeps; a run's streams are read from its beamtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resonance_callback.errors import StorageError
from resonance_callback.index import IndexCatalog, is_index_url, shown_index
from resonance_callback.tiled_server._container import Found, Lazy, LiveContainer
from resonance_callback.tiled_server._directory import Beamtimes, directory_node, is_index
from resonance_callback.tiled_server._nodes import CATALOG_SPEC, beamtime_node, exact_run, run_node

__all__ = ["build_tree"]


def _index_node(index: Path | str, beamtimes: Beamtimes) -> LiveContainer:
    def uids() -> list[str]:
        return list(reversed(list(IndexCatalog(index))))

    def get(uid: str) -> LiveContainer:
        catalog = IndexCatalog(index)
        if uid not in catalog:
            raise KeyError(uid)
        return run_node(exact_run(beamtimes.get(catalog[uid].db_path), uid))

    class IndexContainer(LiveContainer):
        def search(self, query: Any) -> Any:
            # Answered from the index's own metadata: no beamtime is opened to search;
            # worked out on first use, off the event loop (see LiveContainer).
            searched = super().search(query)
            if not isinstance(searched._mapping, Found):
                return searched  # a structural query (specs, keys ...), answered by Tiled
            mapping = self._mapping

            def select() -> list[str]:
                keys = set(mapping)
                found = IndexCatalog(index).search(query)
                return [uid for uid in reversed(list(found)) if uid in keys]

            return self.new_variation(mapping=Found(select, mapping.__getitem__))

        def children_metadata(self) -> list[Any]:
            # distinct is counted on the index's own metadata, as search is: no beamtime opened.
            catalog = IndexCatalog(index)
            return [catalog.metadata_of(uid) for uid in self._mapping if uid in catalog]

    return IndexContainer(Lazy(uids, get), metadata={"index": shown_index(index)},
                          specs=[CATALOG_SPEC])


def build_tree(path: str | Path) -> LiveContainer:
    """Return the Tiled tree over a beamtime, a directory of beamtimes, or a master index.

    Parameters
    ----------
    path : str or Path
        A beamtime ``.db``, a directory holding beamtimes, or a master index
        (a file, or a ``postgresql://`` URL).

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
    beamtimes = Beamtimes()
    if is_index_url(path):
        return _index_node(str(path), beamtimes)
    where = Path(path)
    if where.is_dir():
        return directory_node(where, beamtimes)
    if not where.is_file():
        raise StorageError(f"nothing to serve at {where}: no such file or directory")
    if is_index(where):
        return _index_node(where, beamtimes)
    return beamtime_node(beamtimes.get(where))
