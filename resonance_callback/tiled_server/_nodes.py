"""Tiled adapters over a beamtime, in the node layout TiledWriter produces.

- a run: a container with spec ``BlueskyRun`` version ``3.0``, metadata
  ``{"start", "stop", "summary"}``, one child per stream;
- a stream: a container with specs ``BlueskyEventStream`` (``3.0``) and
  ``composite``, metadata the first descriptor (TiledWriter's keys,
  ``_config_updates`` for later descriptors), children ``internal`` (the
  event table: ``seq_num``, ``time``, the fields, ``ts_{field}``) and one
  array node per frame field, its chunks read from our Zarr arrays on request.

Everything is built on request from the read side (:mod:`resonance_callback.read`),
so runs written while the server runs appear, and a beamtime being written
stays readable (the reader sees committed rows only).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback._extras import needs_extra
from resonance_callback.errors import FilterError
from resonance_callback.read import Beamtime, Run, Stream
from resonance_callback.store import metadata_matches

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    from tiled.adapters.array import ArrayAdapter
    from tiled.adapters.mapping import MapAdapter
    from tiled.adapters.table import TableAdapter
    from tiled.structures.container import ContainerStructure
    from tiled.structures.core import Spec

__all__ = ["CATALOG_SPEC", "Lazy", "LiveContainer", "beamtime_node", "exact_run", "json_safe",
           "run_node", "stream_node"]

RUN_SPEC = Spec("BlueskyRun", version="3.0")
STREAM_SPECS = [Spec("BlueskyEventStream", version="3.0"), Spec("composite")]
CATALOG_SPEC = Spec("CatalogOfBlueskyRuns", version="3.0")


def json_safe(value: Any) -> Any:
    """Return ``value`` as plain JSON builtins (numpy values, NaN as our codec writes them)."""
    return jsoncodec.loads(jsoncodec.dumps(value))


class LiveContainer(MapAdapter):
    """A Tiled container over a live mapping, searched with our query semantics.

    Its keys and length are read from the mapping on each request (new runs
    appear); its metadata may be computed on request; ``search`` answers
    Tiled's metadata queries as :func:`resonance_callback.store.metadata_matches`
    does (the same meaning as ``bt.search``), other query types as Tiled's
    in-memory containers do.
    """

    def __init__(self, mapping: Mapping[str, Any], *,
                 lazy_metadata: Callable[[], dict[str, Any]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(mapping, **kwargs)
        self._lazy_metadata = lazy_metadata

    def structure(self) -> ContainerStructure:
        """Return the container's structure, with its current keys."""
        return ContainerStructure(keys=list(self._mapping.keys()))

    def metadata(self) -> Any:
        """Return the metadata, computed now when it is lazy."""
        if self._lazy_metadata is not None:
            return self._lazy_metadata()
        return self._metadata

    def new_variation(self, *args: Any, **kwargs: Any) -> LiveContainer:
        """Return a narrowed copy that keeps the lazy metadata."""
        out = super().new_variation(*args, **kwargs)
        out._lazy_metadata = self._lazy_metadata
        return out

    def search(self, query: Any) -> Any:
        """Return the children whose metadata match ``query``."""
        try:
            kept = {key: child for key, child in self._mapping.items()
                    if metadata_matches(query, child.metadata())}
        except FilterError:
            return super().search(query)
        return self.new_variation(mapping=kept)


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


def _array_node(stream: Stream, field: str, dims: tuple[str, ...]) -> ArrayAdapter:
    values = stream.array(field)
    metadata = dict(stream.data_keys.get(field, {}))
    metadata["dtype_numpy"] = str(values.dtype)
    return ArrayAdapter.from_array(values, dims=dims, metadata=json_safe(metadata))


def stream_node(stream: Stream) -> LiveContainer:
    """Return the Tiled node of one stream (``BlueskyEventStream`` 3.0, composite)."""
    array_dims = functools.cache(stream.dims)

    def servable(field: str) -> bool:
        return field not in stream.frame_fields or stream.frames(field).frame_shape is not None

    def keys() -> list[str]:
        parts = ["internal"] if stream.has_events() else []
        return parts + [f for f in array_dims() if servable(f)]

    def get(key: str) -> Any:
        if key == "internal" and stream.has_events():
            table = stream.internal_table()
            described = {c: stream.data_keys[c] for c in table.columns if c in stream.data_keys}
            return TableAdapter.from_pandas(table, metadata=json_safe(described),
                                            npartitions=max(1, math.ceil(len(table) / 100_000)))
        if key not in array_dims() or not servable(key):
            raise KeyError(key)
        return _array_node(stream, key, array_dims()[key])

    return LiveContainer(Lazy(keys, get), metadata=json_safe(stream.metadata),
                         specs=list(STREAM_SPECS))


def run_node(run: Run) -> LiveContainer:
    """Return the Tiled node of one run (``BlueskyRun`` 3.0)."""
    def get(name: str) -> LiveContainer:
        if name not in run.streams:
            raise KeyError(name)
        return stream_node(run[name])

    return LiveContainer(Lazy(lambda: run.streams, get),
                         lazy_metadata=lambda: json_safe(run.metadata), specs=[RUN_SPEC])


def exact_run(beamtime: Beamtime, uid: str) -> Run:
    """Return the run whose uid is exactly ``uid`` (no prefixes, no scan ids)."""
    run = beamtime[uid]
    if run.uid != uid:
        raise KeyError(uid)
    return run


def beamtime_node(beamtime: Beamtime) -> LiveContainer:
    """Return the Tiled node of a beamtime: its runs by uid, oldest first."""
    def uids() -> list[str]:
        return [run.uid for run in reversed(beamtime.runs())]

    return LiveContainer(Lazy(uids, lambda uid: run_node(exact_run(beamtime, uid))),
                         metadata={"beamtime": str(beamtime.path)}, specs=[CATALOG_SPEC])
