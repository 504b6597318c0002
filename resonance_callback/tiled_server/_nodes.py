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
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback._extras import needs_extra
from resonance_callback.read import Beamtime, Run, Stream
from resonance_callback.tiled_server._container import Lazy, LiveContainer

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    from tiled.adapters.array import ArrayAdapter
    from tiled.adapters.table import TableAdapter
    from tiled.structures.core import Spec

__all__ = ["CATALOG_SPEC", "Lazy", "LiveContainer", "beamtime_node", "exact_run", "json_safe",
           "run_node", "stream_node"]

RUN_SPEC = Spec("BlueskyRun", version="3.0")
STREAM_SPECS = [Spec("BlueskyEventStream", version="3.0"), Spec("composite")]
CATALOG_SPEC = Spec("CatalogOfBlueskyRuns", version="3.0")


def json_safe(value: Any) -> Any:
    """Return ``value`` as plain JSON builtins (numpy values, NaN as our codec writes them)."""
    return jsoncodec.loads(jsoncodec.dumps(value))


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
