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
import logging
import math
import uuid
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.read import Beamtime, Run, Stream
from resonance_callback.tiled_server._container import Found, Lazy, LiveContainer
from resonance_callback.tiled_server._frame_nodes import array_node, json_safe
from resonance_callback.tiled_server._kinds import (
    BytesNode,
    Table,
    bytes_fields,
    ragged_fields,
    ragged_node,
    table_with_lists,
)
from resonance_callback.tiled_server._kinds import (
    in_table as kept_in_table,
)

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    from tiled.structures.core import Spec

__all__ = ["CATALOG_SPEC", "Lazy", "LiveContainer", "RunContainer", "beamtime_node", "exact_run",
           "json_safe", "run_node", "run_specs", "stream_node"]

logger = logging.getLogger("resonance_callback.tiled_server")

RUN_SPEC = Spec("BlueskyRun", version="3.0")
STREAM_SPECS = [Spec("BlueskyEventStream", version="3.0"), Spec("composite")]
CATALOG_SPEC = Spec("CatalogOfBlueskyRuns", version="3.0")

#: Start-document keys TiledWriter takes out of the start it keeps (it makes
#: them the run's specs and access tags): served without them, as TiledWriter's.
WRITER_KEYS = ("tiled_specs", "tiled_access_tags")
#: Most specs a node has in Tiled (``tiled.server.schemas.MAX_ALLOWED_SPECS``).
MAX_SPECS = 20
_MAX_SPEC_TEXT = 255


def stream_node(stream: Stream) -> LiveContainer:
    """Return the Tiled node of one stream (``BlueskyEventStream`` 3.0, composite)."""
    array_dims = functools.cache(stream.dims)

    def servable(field: str) -> bool:
        return field not in stream.frame_fields or stream.frames(field).frame_shape is not None

    @functools.cache
    def in_table() -> list[str]:
        return [f for f in array_dims() if servable(f) and kept_in_table(stream, f)]

    @functools.cache
    def raggeds() -> dict[str, Any]:
        if not ragged_fields(stream, list(stream.data_keys)):
            return {}  # declared by none: the table is not read
        table = stream.internal_table()
        nodes = {f: ragged_node(stream, f, table[f].tolist(), json_safe(stream.data_keys[f]))
                 for f in ragged_fields(stream, list(table.columns))}
        return {f: node for f, node in nodes.items() if node is not None}

    def keys() -> list[str]:
        parts = ["internal"] if stream.has_events() else []
        arrays = [f for f in array_dims() if servable(f) and f not in in_table()]
        return parts + arrays + [f for f in raggeds() if f not in arrays]

    def get(key: str) -> Any:
        if key in raggeds():
            return raggeds()[key]
        if key == "internal" and stream.has_events():
            table = stream.internal_table(keep=in_table())
            table = table.drop(columns=[c for c in table.columns
                                        if c in raggeds() or c.removeprefix("ts_") in raggeds()])
            described = {c: stream.data_keys[c] for c in table.columns if c in stream.data_keys}
            npartitions = max(1, math.ceil(len(table) / 100_000))
            if not in_table():
                return Table.from_pandas(table, metadata=json_safe(described),
                                         npartitions=npartitions)
            return table_with_lists(table, in_table(), npartitions, json_safe(described))
        if key not in array_dims() or not servable(key) or key in in_table():
            raise KeyError(key)
        if key in bytes_fields(stream):
            return BytesNode(stream, key, json_safe(stream.data_keys.get(key, {})))
        return array_node(stream, key, array_dims()[key])

    return LiveContainer(Lazy(keys, get), metadata=json_safe(stream.metadata),
                         specs=list(STREAM_SPECS))


def _spec(entry: Any) -> Spec | None:
    """One ``tiled_specs`` entry as TiledWriter reads it (a name, or name and version), or None."""
    if isinstance(entry, str):
        name, version = entry, None
    elif isinstance(entry, dict) and set(entry) <= {"name", "version"} and "name" in entry:
        name, version = entry["name"], entry.get("version")
    else:
        return None
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_SPEC_TEXT:
        return None
    if version is not None and not (isinstance(version, str) and len(version) <= _MAX_SPEC_TEXT):
        return None
    return Spec(name, version=version)


def run_specs(start: dict[str, Any]) -> list[Spec]:
    """Return a run's specs: its start's ``tiled_specs`` first, then ``BlueskyRun`` 3.0.

    As TiledWriter makes them: each entry a spec name or ``{"name", "version"}``.
    An entry Tiled could not serve (not a name, a name or version longer than
    255 characters, a repeat, ``BlueskyRun`` itself, past Tiled's 20 specs) is
    left out and logged with the run's uid; the run is served all the same.
    """
    given = start.get("tiled_specs")
    if not given:
        return [RUN_SPEC]
    entries = given if isinstance(given, list) else [given]
    out: list[Spec] = []
    for entry in entries:
        spec = _spec(entry)
        if spec is None or spec in out or spec.name == RUN_SPEC.name or len(out) >= MAX_SPECS - 1:
            logger.warning("serve-tiled: run %s: tiled_specs entry %.200r not applied (not a "
                           "spec name or {name, version}, a repeat, or past %d specs)",
                           start.get("uid"), entry, MAX_SPECS)
            continue
        out.append(spec)
    return [*out, RUN_SPEC]


class RunContainer(LiveContainer):
    """The node of one run; keeps the :class:`~resonance_callback.read.Run` it serves.

    Its documents are served as ``application/json-seq`` (:mod:`._export`).
    """

    run: Run

    def new_variation(self, *args: Any, **kwargs: Any) -> RunContainer:
        """Return a narrowed copy that keeps the run."""
        out = super().new_variation(*args, **kwargs)
        assert isinstance(out, RunContainer)
        out.run = self.run
        return out

    def __dask_tokenize__(self) -> str:
        # Tiled makes an export's ETag from its payload (this node): a fresh one
        # each time, as a run's documents change while it is written (and so
        # that the token is not sought by pickling the run).
        return uuid.uuid4().hex


def _run_metadata(run: Run) -> dict[str, Any]:
    metadata = run.metadata
    start = metadata.get("start")
    if isinstance(start, dict) and any(key in start for key in WRITER_KEYS):
        metadata = {**metadata, "start": {k: v for k, v in start.items() if k not in WRITER_KEYS}}
    safe: dict[str, Any] = json_safe(metadata)  # a dict encodes and decodes to a dict
    return safe


def run_node(run: Run) -> RunContainer:
    """Return the Tiled node of one run (``BlueskyRun`` 3.0, after its ``tiled_specs``)."""
    def get(name: str) -> LiveContainer:
        if name not in run.streams:
            raise KeyError(name)
        return stream_node(run[name])

    node = RunContainer(Lazy(lambda: run.streams, get), lazy_metadata=lambda: _run_metadata(run),
                        specs=run_specs(run.start))
    node.run = run
    return node


def exact_run(beamtime: Beamtime, uid: str) -> Run:
    """Return the run whose uid is exactly ``uid`` (no prefixes, no scan ids)."""
    run = beamtime[uid]
    if run.uid != uid:
        raise KeyError(uid)
    return run


def beamtime_node(beamtime: Beamtime) -> LiveContainer:
    """Return the Tiled node of a beamtime: its runs by uid, oldest first.

    Its metadata queries are answered as ``bt.search`` answers them, by the
    store's one query engine (SQL over the runs; Python only for what SQL
    cannot say), not by reading every run's metadata.
    """
    def uids() -> list[str]:
        return [run.uid for run in reversed(beamtime.runs())]

    class BeamtimeContainer(LiveContainer):
        def search(self, query: Any) -> Any:
            searched = super().search(query)  # checks the query; structural ones Tiled's
            if not isinstance(searched._mapping, Found):
                return searched
            mapping = self._mapping

            def select() -> list[str]:
                keys = set(mapping)  # the runs a search before this one kept
                return [uid for uid in reversed(list(beamtime.search(query))) if uid in keys]

            return self.new_variation(mapping=Found(select, mapping.__getitem__))

    return BeamtimeContainer(Lazy(uids, lambda uid: run_node(exact_run(beamtime, uid))),
                             metadata={"beamtime": str(beamtime.path)}, specs=[CATALOG_SPEC])
