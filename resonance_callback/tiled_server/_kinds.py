"""A stream's children laid out as TiledWriter lays them out, where they are not plain arrays.

- a small array of the events (a fixed shape of at most :data:`MAX_TABLE_ARRAY_SIZE`
  numbers): a column of the ``internal`` table (:func:`in_table`), each value a nested list;
- a ragged field of the events (a ``None`` in its declared shape, ``[2, null]``):
  a ``ragged`` node of its own (TiledWriter's ``write_ragged``), not a table column;
- a field read from ``application/octet-stream`` files: a ``bytes`` node (TiledWriter's
  ``BytesConsolidator``), its data sources the files; the bytes we copied stay
  readable through :mod:`resonance_callback.read` (``run.images``).

Tiled's live streaming offers neither ragged nor bytes nodes, so a subscriber skips
both, as it skips TiledWriter's.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from resonance_callback._extras import needs_extra
from resonance_callback.external import OCTET_MIMETYPE
from resonance_callback.read import Stream
from resonance_callback.tiled_server._live import LiveStream
from resonance_callback.tiled_server._sources import field_data_sources

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    import dask
    import dask.dataframe
    import pyarrow  # type: ignore[import-untyped]
    from tiled.adapters.array import ArrayAdapter
    from tiled.adapters.bytes import BytesAdapter
    from tiled.adapters.ragged import RaggedAdapter  # awkward: in tiled[server]
    from tiled.adapters.table import TableAdapter
    from tiled.structures.bytes import BytesStructure
    from tiled.structures.core import Spec
    from tiled.structures.ragged import make_ragged_array
    from tiled.structures.table import TableStructure

__all__ = ["MAX_TABLE_ARRAY_SIZE", "BytesNode", "ListTable", "Table", "bytes_fields", "in_table",
           "ragged_fields", "ragged_node", "table_with_lists"]

logger = logging.getLogger("resonance_callback.tiled_server")

#: Most elements of an array of the events TiledWriter keeps in its table (its ``MAX_ARRAY_SIZE``).
MAX_TABLE_ARRAY_SIZE = 16


class Table(LiveStream, TableAdapter):
    """A stream's event table (``internal``)."""


def in_table(stream: Stream, field: str) -> bool:
    """Whether an array field stays in the ``internal`` table, by TiledWriter's rule.

    TiledWriter keeps an array of the events (no ``external``, ``dtype`` array)
    in its table when its declared shape is fixed, of at most
    :data:`MAX_TABLE_ARRAY_SIZE` elements and its ``dtype_numpy`` not a string or
    object; every other array field is a node of its own. Here also only when
    every event has it, in the declared shape.
    """
    key = stream.data_keys.get(field) or {}
    shape = key.get("shape")
    if "external" in key or key.get("dtype") != "array" or not isinstance(shape, list):
        return False
    if not all(isinstance(size, int) and size >= 0 for size in shape):
        return False
    if math.prod(shape) > MAX_TABLE_ARRAY_SIZE:
        return False
    try:
        if np.dtype(key.get("dtype_numpy") or "f8").kind in "USO":
            return False
    except TypeError:
        return False
    values = stream.array(field)
    return tuple(values.shape) == (len(stream.internal_table()), *shape)


def table_with_lists(table: Any, lists: list[str], npartitions: int,
                      metadata: dict[str, Any]) -> Table:
    """The ``internal`` table with array fields kept in it, each value a nested list.

    Their Arrow types are those of their whole columns (an empty column's is
    ``null``, and dask would make lists text).
    """
    with dask.config.set({"dataframe.convert-string": False}):
        frame = dask.dataframe.from_pandas(table, npartitions=npartitions)
    schema = TableStructure.from_dask_dataframe(frame).arrow_schema_decoded
    for field in lists:
        column = pyarrow.array(table[field].tolist())
        schema = schema.set(schema.get_field_index(field), pyarrow.field(field, column.type))
    structure = TableStructure.from_arrow_table(schema.empty_table(), frame.npartitions)
    out = ListTable(frame.partitions, structure, metadata=metadata, specs=[Spec("dataframe")])
    out.lists = list(lists)
    return out


class ListTable(Table):
    """An ``internal`` table with arrays kept in it: such a column read alone is its array.

    ``stream["long"]`` (Tiled's composite client reads a column as ``internal/long``)
    has the shape ``(events, *shape)``, as TiledWriter's table column has.
    """

    lists: list[str]

    def __getitem__(self, key: str) -> Any:
        """Return one column as an array (a kept array column: ``(events, *shape)``)."""
        if key not in self.lists:
            return super().__getitem__(key)
        return ArrayAdapter.from_array(np.asarray(self.read([key])[key].tolist()))




def ragged_fields(stream: Stream, columns: list[str]) -> list[str]:
    """The table columns of fields declared ragged (``dtype`` array, a ``None`` in ``shape``)."""
    out = []
    for field in columns:
        key = stream.data_keys.get(field) or {}
        shape = key.get("shape")
        if ("external" not in key and key.get("dtype") == "array" and isinstance(shape, list)
                and None in shape):
            out.append(field)
    return out


def ragged_node(stream: Stream, field: str, values: list[Any], metadata: dict[str, Any]
                ) -> Any:
    """A ``ragged`` node of one field's values, or None if they make no ragged array."""
    try:
        shape = (len(values), *stream.data_keys[field]["shape"])
        return RaggedAdapter.from_array(make_ragged_array(values, shape=shape),
                                        metadata=metadata)
    except Exception as exc:  # noqa: BLE001 - values ragged cannot take: they stay in the table
        logger.warning("serve-tiled: stream %r key %r: not served as a ragged node (%s); its "
                       "values stay in the internal table", stream.name, field, exc)
        return None


def bytes_fields(stream: Stream) -> list[str]:
    """Fields read from ``application/octet-stream`` stream resources only."""
    return [field for field, refs in stream.stream_resources.items()
            if refs and all(ref.document.get("mimetype") == OCTET_MIMETYPE for ref in refs)]


class BytesNode(BytesAdapter):
    """A field of opaque bytes: its data sources are the files it was read from."""

    def __init__(self, stream: Stream, field: str, metadata: dict[str, Any]) -> None:
        super().__init__(BytesStructure(), metadata=metadata)
        self._stream, self._field = stream, field

    @property
    def data_sources(self) -> Any:
        """The files of the field, as TiledWriter's bytes node lists them."""
        return field_data_sources(self._stream, self._field, None)
