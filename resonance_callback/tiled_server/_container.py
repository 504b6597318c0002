"""The container every node of our tree is: live keys, searched off the event loop.

Tiled's server calls an adapter's ``search`` (and ``[key]``) on its event
loop, so a search worked out there stalls every other client for as long as
it takes. Ours only records the query (checked and compiled at once, a bad
one answering 400): the runs that match are worked out on first use, when
Tiled counts them (``lbound_len`` / ``exact_len``, in a worker thread) or
looks one up (``lookup_adapter``, in a worker thread too).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback._extras import needs_extra
from resonance_callback.errors import FilterError, MissingExtraError
from resonance_callback.store import METADATA_QUERY_KINDS, metadata_matcher
from resonance_callback.tiled_server._live import LiveStream

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    import anyio.to_thread
    from tiled.adapters.mapping import MapAdapter
    from tiled.queries import QueryValueError
    from tiled.server.core import NoEntry
    from tiled.structures.container import ContainerStructure

__all__ = ["Found", "Lazy", "LiveContainer"]

_RUN_CATALOG = "CatalogOfBlueskyRuns"
_RUN_TOP = ("start", "stop", "summary")  # a run's metadata; another key is a key of the start
_MISSING = object()


class Lazy(Mapping[str, Any]):
    """A mapping whose keys come from one call and values from another, each on request.

    ``get`` raises :class:`KeyError` for a key that is not there; the keys
    are listed only to iterate and count.
    """

    def __init__(self, keys: Callable[[], list[str]], get: Callable[[str], Any]) -> None:
        self._keys, self._get = keys, get

    def __getitem__(self, key: str) -> Any:
        return self._get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


class Found(Mapping[str, Any]):
    """The children a search keeps, worked out once, on first use.

    Parameters
    ----------
    select : callable
        Returns the kept keys, in order (the whole search).
    get : callable
        Returns the child at a key (:class:`KeyError` if there is none).
    keep_one : callable, optional
        Whether one key is kept, without working out the others (a lookup
        before the search has run).
    """

    def __init__(self, select: Callable[[], list[str]], get: Callable[[str], Any],
                 keep_one: Callable[[str], bool] | None = None) -> None:
        self._select, self._get, self._keep_one = select, get, keep_one
        self._kept: list[str] | None = None
        self._kept_set: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def _keys(self) -> list[str]:
        with self._lock:
            if self._kept is None:
                self._kept = list(self._select())
                self._kept_set = frozenset(self._kept)
            return self._kept

    def __getitem__(self, key: str) -> Any:
        if self._kept is None and self._keep_one is not None:
            if not self._keep_one(key):
                raise KeyError(key)
        else:
            self._keys()
            if key not in self._kept_set:
                raise KeyError(key)
        return self._get(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


def _distinct(children: Iterable[Any], keys: list[str], runs: bool, counts: bool
              ) -> dict[str, list[dict[str, Any]]]:
    """The distinct values of each of ``keys`` among ``children``, in one pass over them."""
    paths = []
    for key in keys:
        path = key.split(".")
        if runs and path[0] not in _RUN_TOP:
            path.insert(0, "start")
        paths.append(path)
    found: list[dict[str, list[Any]]] = [{} for _ in keys]  # the value's JSON -> [value, count]
    for child in children:
        for path, seen in zip(paths, found, strict=True):
            term = child
            for part in path:
                term = term.get(part, _MISSING) if isinstance(term, Mapping) else _MISSING
            if term is _MISSING:
                term = None  # as Tiled's SQL catalog (TiledWriter's) counts a missing key
            seen.setdefault(jsoncodec.dumps(term), [term, 0])[1] += 1
    if counts:
        return {key: [{"value": value, "count": n} for value, n in seen.values()]
                for key, seen in zip(keys, found, strict=True)}
    return {key: [{"value": value} for value, _ in seen.values()]
            for key, seen in zip(keys, found, strict=True)}


class _SortKey:
    """Orders any metadata values: missing ones last, values of different types by type name."""

    __slots__ = ("rank",)

    def __init__(self, value: Any) -> None:
        self.rank: tuple[Any, ...] = (1,) if value is None else (0, type(value).__name__, value)

    def __lt__(self, other: _SortKey) -> bool:
        try:
            return bool(self.rank < other.rank)
        except TypeError:  # same type name, not ordered (dicts): keep their order
            return False


class LiveContainer(LiveStream, MapAdapter):
    """A Tiled container over a live mapping, searched with our query semantics.

    Its keys and length are read from the mapping on each request (new runs
    appear); its metadata may be computed on request; ``search`` answers
    Tiled's metadata queries as :func:`resonance_callback.store.metadata_matches`
    does on each child's metadata (the meaning the store's query engine gives
    them; a beamtime's and the index's runs are searched by that engine
    itself, in SQL), Tiled's structural queries
    (specs, structure family, keys) as its in-memory containers do, and
    refuses deep search (a walk of every node, on the event loop).
    """

    def __init__(self, mapping: Mapping[str, Any], *,
                 lazy_metadata: Callable[[], dict[str, Any]] | None = None,
                 **kwargs: Any) -> None:
        # Tiled's MapAdapter lists the keys when it is made; ours are listed on
        # request (structure()), so that making a node (a search's result) lists nothing.
        super().__init__({}, **kwargs)
        self._mapping = mapping
        self._lazy_metadata = lazy_metadata

    def structure(self) -> ContainerStructure:
        """Return the container's structure, with its current keys."""
        return ContainerStructure(keys=list(self._mapping.keys()))

    def child_keys(self) -> list[str]:
        """Return the children's keys, listed now (what a live subscription polls)."""
        return list(self._mapping.keys())

    def child(self, key: str) -> Any:
        """Return the child at ``key``, made now (:class:`KeyError` if there is none)."""
        return self._mapping[key]

    def metadata(self) -> Any:
        """Return the metadata, computed now when it is lazy."""
        if self._lazy_metadata is not None:
            return self._lazy_metadata()
        return self._metadata

    def new_variation(self, *args: Any, **kwargs: Any) -> LiveContainer:
        """Return a narrowed copy that keeps the lazy metadata."""
        out: LiveContainer = super().new_variation(*args, **kwargs)
        out._lazy_metadata = self._lazy_metadata
        return out

    def search(self, query: Any) -> Any:
        """Return the children whose metadata match ``query``, worked out on first use."""
        if type(query).__name__ not in METADATA_QUERY_KINDS:
            return super().search(query)
        try:
            test = metadata_matcher(query)
        except (FilterError, MissingExtraError) as exc:
            raise QueryValueError(str(exc)) from None
        mapping = self._mapping

        def select() -> list[str]:
            return [key for key, child in mapping.items() if test(child.metadata())]

        def keep_one(key: str) -> bool:
            return bool(test(mapping[key].metadata()))

        return self.new_variation(mapping=Found(select, mapping.__getitem__, keep_one))

    def sort(self, sorting: Any) -> Any:
        """Return the children in ``sorting``'s order, worked out on first use.

        ``sorting`` is Tiled's: ``(key, direction)`` pairs, the first one
        deciding; ``_`` is the given order, another key a top-level key of
        each child's metadata (children without it last, as Tiled's
        in-memory containers sort).
        """
        mapping = self._mapping
        if all(key == "_" for key, _ in sorting):  # the given order, or its reverse
            if math.prod(direction for _, direction in sorting) > 0:
                return self.new_variation(sorting=sorting)
            reverse = getattr(mapping, "reversed", None)
            if reverse is not None:
                return self.new_variation(mapping=reverse(), sorting=sorting)

        def select() -> list[str]:
            keys = list(mapping)
            for key, direction in reversed(list(sorting)):
                if key != "_":
                    values = {k: mapping[k].metadata().get(key) for k in keys}
                    keys.sort(key=lambda k: _SortKey(values[k]))
                if direction < 0:
                    keys.reverse()
            return keys

        return self.new_variation(mapping=Found(select, mapping.__getitem__), sorting=sorting)

    def get_distinct(self, metadata: list[str], structure_families: bool, specs: bool,
                     counts: bool) -> dict[str, Any]:
        """Return the distinct values (and counts) of metadata keys among the children.

        Tiled calls it in a worker thread. In a catalog of runs a key is read
        as ``search`` reads it: a key starting with none of ``start.``,
        ``stop.``, ``summary.`` is a key of the start document (``"sample"``
        is ``"start.sample"``); the answer keeps the key as asked. Values may
        be lists or dicts. Children without the key are counted under the
        value ``None``, as Tiled's SQL catalog (TiledWriter's) counts them.
        """
        data: dict[str, Any] = super().get_distinct([], structure_families, specs, counts)
        if metadata:
            runs = any(spec.name == _RUN_CATALOG for spec in self.specs)
            data["metadata"] = _distinct(self.children_metadata(), metadata, runs, counts)
        return data

    def children_metadata(self) -> Iterable[Any]:
        """Return every child's metadata (what ``get_distinct`` counts), in order."""
        return (child.metadata() for child in self._mapping.values())

    def _keys_slice(self, start: int, stop: int | None, direction: int,
                    page_size: int | None = None) -> Any:
        """Return the keys from ``start`` to ``stop`` (from the end when ``direction < 0``)."""
        # only that page from a mapping that reads one (keys_between: an index's runs)
        between = getattr(self._mapping, "keys_between", None)
        if between is not None:
            return between(start, stop, direction)
        return super()._keys_slice(start, stop, direction, page_size)

    def search_deep(self, max_depth: int | None = None) -> Any:
        """Refuse a deep search: it would walk every beamtime, run and stream at once."""
        raise NotImplementedError("deep search is not offered here: search a beamtime's runs")

    async def lbound_len(self, threshold: int) -> int:
        """Return the number of children, counted in a worker thread (an exact count)."""
        # exact: Tiled's pagination links end at the count it is given
        return int(await anyio.to_thread.run_sync(len, self._mapping))

    async def exact_len(self) -> int:
        """Return the number of children, counted in a worker thread."""
        return int(await anyio.to_thread.run_sync(len, self._mapping))

    async def lookup_adapter(self, segments: list[str]) -> Any:
        """Return the node at ``segments`` below this one, looked up in a worker thread."""
        node: Any = self
        for i, segment in enumerate(segments):
            if isinstance(node, LiveContainer):
                try:
                    node = await anyio.to_thread.run_sync(node._mapping.__getitem__, segment)
                except KeyError:
                    raise NoEntry(segments[:i + 1]) from None
            else:
                try:
                    node = node[segment]
                except (KeyError, TypeError):
                    raise NoEntry(segments[:i + 1]) from None
        return node
