"""The tree a server serves, from what PATH is: a beamtime, a directory, or a master index.

- a beamtime ``.db``: its runs at the top of the tree (``client[uid]``);
- a directory: one container per beamtime ``.db`` in it, one per
  subdirectory holding beamtimes, so a beamtime is at its path relative to
  the directory without ``.db`` (``client["2026-03/beamtime"][uid]``);
  beamtimes added later appear; what cannot be served is skipped and listed
  in the directory's metadata (:mod:`._directory`);
- a master index: every indexed run at the top, by uid, oldest first, searched
  on the metadata the index keeps, read a page at a time (:class:`IndexRuns`:
  a run is one indexed row, a page ``LIMIT`` / ``OFFSET``, a count ``COUNT``);
  a run's streams are read from its beamtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from resonance_callback.errors import StorageError
from resonance_callback.index import IndexCatalog, is_index_url, shown_index
from resonance_callback.tiled_server._container import Found, LiveContainer
from resonance_callback.tiled_server._directory import Beamtimes, directory_node, is_index
from resonance_callback.tiled_server._nodes import CATALOG_SPEC, beamtime_node, exact_run, run_node

__all__ = ["build_tree"]


class IndexRuns(Mapping[str, Any]):
    """The runs of an index (or of a search of it), oldest first, read a page at a time.

    Tiled's order is the reverse of the catalog's: ``keys_between`` reads a
    page with ``LIMIT`` / ``OFFSET``, ``len`` is a ``COUNT``, a run is one
    row (its streams are read from its beamtime).
    """

    def __init__(self, catalog: IndexCatalog, beamtimes: Beamtimes,
                 newest_first: bool = False) -> None:
        self.catalog, self._beamtimes, self._newest_first = catalog, beamtimes, newest_first

    def __getitem__(self, uid: str) -> LiveContainer:
        run = self.catalog[uid]
        return run_node(exact_run(self._beamtimes.get(run.db_path), uid))

    def __contains__(self, uid: object) -> bool:
        return uid in self.catalog

    def __iter__(self) -> Iterator[str]:
        return self.catalog.iter_uids(oldest_first=not self._newest_first)

    def __len__(self) -> int:
        return len(self.catalog)

    def keys_between(self, start: int, stop: int | None, direction: int) -> list[str]:
        """The keys from ``start`` to ``stop`` (counted from the end when ``direction < 0``)."""
        limit = None if stop is None else max(0, stop - start)
        oldest = (direction > 0) != self._newest_first
        return self.catalog.uids(start, limit, oldest_first=oldest)

    def reversed(self) -> IndexRuns:
        """The same runs in the reverse order."""
        return IndexRuns(self.catalog, self._beamtimes, not self._newest_first)

    def search(self, query: Any) -> IndexRuns:
        """The runs that also match ``query``, in the same order (nothing read yet)."""
        return IndexRuns(self.catalog.search(query), self._beamtimes, self._newest_first)

    def metadata(self) -> Iterator[dict[str, Any]]:
        """Every run's metadata, in order, read a batch at a time."""
        return self.catalog.runs_metadata(oldest_first=not self._newest_first)


def _index_node(index: Path | str, beamtimes: Beamtimes) -> LiveContainer:
    catalog = IndexCatalog(index)

    class IndexContainer(LiveContainer):
        def search(self, query: Any) -> Any:
            # Answered from the index's own metadata (no beamtime is opened to search),
            # in SQL as far as it goes: nothing is read before Tiled counts or pages.
            searched = super().search(query)
            if not isinstance(searched._mapping, Found):
                return searched  # a structural query (specs, keys ...), answered by Tiled
            mapping = self._mapping
            if isinstance(mapping, IndexRuns):
                return self.new_variation(mapping=mapping.search(query))

            def select() -> list[str]:  # a sorted or structurally searched node
                keys = set(mapping)
                return [uid for uid in catalog.search(query).iter_uids(oldest_first=True)
                        if uid in keys]

            return self.new_variation(mapping=Found(select, mapping.__getitem__))

        def children_metadata(self) -> Iterable[Any]:
            # distinct is counted on the index's own metadata, as search is: no beamtime opened.
            if isinstance(self._mapping, IndexRuns):
                return self._mapping.metadata()
            found = []
            for uid in self._mapping:
                try:
                    found.append(catalog.metadata_of(uid))
                except KeyError:
                    continue
            return found

    return IndexContainer(IndexRuns(catalog, beamtimes), metadata={"index": shown_index(index)},
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
