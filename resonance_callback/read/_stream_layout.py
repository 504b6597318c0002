"""A stream's layout decided from its descriptors, and its columns read only when computed.

:meth:`Stream.read` and the Tiled stream node must not read a stream's table to
build a Dataset or a node: reading frame ``k`` should cost the same in a run of
a thousand frames and of a hundred thousand. The layout is decided from what
the descriptors declare, as TiledWriter decides it (its table columns, array
nodes and ``dtype_numpy`` come from the descriptor, not from the values):

- the frame fields (frames in the Zarr store) are array fields, their shape the
  stored frames' (``frame_spans``);
- every other field must be declared, alike in every descriptor of the stream,
  a scalar (``shape []``) of ``dtype`` number, integer or boolean (no
  ``external``): a column of one value per row, its dtype the declared
  ``dtype_numpy`` or else TiledWriter's for the ``dtype`` (number ``<f8``,
  integer ``<i8``, boolean ``|b1``).

When the declarations cannot decide (a string, an array of the events, a field
some descriptor leaves out, a frame never stored, a key named ``seq_num`` or
``time``), :func:`declared_columns` says so and the stream is read from its
values, as before. A column is read (one SQL query of that field alone, rows up
to those counted) only when its values are computed; a value its declared dtype
cannot hold then raises :class:`~resonance_callback.errors.DataLookupError`
naming the field (``run.table()`` still reads it as stored).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from resonance_callback import jsoncodec
from resonance_callback._extras import needs_extra
from resonance_callback.errors import DataLookupError
from resonance_callback.read._columns import column_array, distinct_dims
from resonance_callback.read._joins import MAX_CHUNK_BYTES, tiled_chunks
from resonance_callback.store import run_queries

if TYPE_CHECKING:
    import pandas
    import xarray

    from resonance_callback.read._frames import FrameArray
    from resonance_callback.read._stream_run import _Run
    from resonance_callback.store import column_reads

__all__ = ["DECLARED_NUMPY", "MAX_FRAME_BLOCKS", "LazyColumn", "declared_columns", "frame_blocks",
           "stream_column", "stream_dataset", "stream_metadata", "typed_column"]

#: Most blocks the frames of a field are served in over Tiled when no ``chunk_shape``
#: decides: a node's structure lists every block, so one frame a block would make it,
#: and each answer about the node, grow with the run.
MAX_FRAME_BLOCKS = 1_000

#: TiledWriter's numpy dtype of a scalar declared only by its JSON ``dtype``.
DECLARED_NUMPY = {"number": "<f8", "integer": "<i8", "boolean": "|b1"}


def _scalar_dtype(field: str, key: Any) -> np.dtype | None:
    """The dtype of a field declared a numeric or boolean scalar of the events, else None."""
    if (not isinstance(key, dict) or "external" in key or field in ("seq_num", "time")
            or run_queries.json_path(field) is None or key.get("shape") != []):
        return None
    declared = DECLARED_NUMPY.get(key.get("dtype"))  # type: ignore[arg-type]
    if declared is None:
        return None
    try:
        dtype = np.dtype(key.get("dtype_numpy") or declared)
    except (TypeError, ValueError):
        return None
    if dtype.kind not in "biuf" or (dtype.kind == "b") != (declared == "|b1"):
        return None
    return dtype


def declared_columns(descriptors: list[dict[str, Any]], frame_fields: Collection[str]
                     ) -> dict[str, np.dtype] | None:
    """Return the stream's columns and their dtypes, when the declarations decide them.

    Parameters
    ----------
    descriptors : list of dict
        The stream's descriptors.
    frame_fields : collection of str
        The fields with frames in the Zarr store (array fields, not columns).

    Returns
    -------
    dict or None
        ``{field: dtype}`` in the descriptors' order; None if a field that is
        not a frame field is not declared a numeric or boolean scalar, alike, by
        every descriptor (see the module).
    """
    out: dict[str, np.dtype] = {}
    declared: set[str] | None = None
    for desc in descriptors:
        keys = desc.get("data_keys") or {}
        fields = {f for f in keys if f not in frame_fields}
        if declared is not None and fields != declared:
            return None
        declared = fields
        for field in keys:
            if field in frame_fields:
                continue
            dtype = _scalar_dtype(field, keys[field])
            if dtype is None or out.setdefault(field, dtype) != dtype:
                return None
    return out


def typed_column(texts: list[Any], dtype: np.dtype, what: str) -> np.ndarray:
    """Turn one column's JSON texts into an array of its declared dtype.

    A missing value is NaN in a float column; any value the dtype cannot hold
    exactly (a missing value of an integer or boolean, a fraction in an integer
    column, a list, a string) raises :class:`DataLookupError` naming ``what``.
    """
    values = jsoncodec.loads("[" + ",".join("null" if t is None else t for t in texts) + "]")
    kinds = set(map(type, values))
    allowed: set[type] = {bool} if dtype.kind == "b" else {int, float}
    if dtype.kind == "f":
        allowed.add(type(None))
    if not kinds <= allowed:
        raise DataLookupError(f"{what}: a value is not one its declared dtype {dtype} can "
                              "hold; read it with run.table()")
    try:
        out = np.array([np.nan if v is None else v for v in values], dtype=dtype)
    except (OverflowError, ValueError, TypeError) as exc:
        raise DataLookupError(f"{what}: values its declared dtype {dtype} cannot hold "
                              f"({exc}); read it with run.table()") from None
    if dtype.kind in "iu" and float in kinds and not np.array_equal(
            out, np.array(values, dtype="float64")):
        raise DataLookupError(f"{what}: a fraction in a column declared {dtype}; read it "
                              "with run.table()")
    return out


class LazyColumn:
    """One column of a stream, read (once) when its values are first asked for.

    Array-like (``shape``, ``dtype``, ``ndim``, indexing), indexed lazily by
    :meth:`Stream.read`'s Dataset (:mod:`._lazy_arrays`).

    Parameters
    ----------
    load : callable
        Returns the column's values (a 1-D array of ``rows`` values).
    rows : int
        The rows counted when the stream was read.
    dtype : numpy.dtype
        The values' dtype.
    what : str
        The column, for messages.
    """

    def __init__(self, load: Callable[[], np.ndarray], rows: int, dtype: np.dtype,
                 what: str) -> None:
        self._load = load
        self._values: np.ndarray | None = None
        self.shape, self.dtype, self.ndim, self.what = (rows,), dtype, 1, what

    def values(self) -> np.ndarray:
        """The column, read on the first call."""
        if self._values is None:
            values = self._load()
            if len(values) != self.shape[0]:
                raise DataLookupError(f"{self.what}: {len(values)} rows read where "
                                      f"{self.shape[0]} were counted; read the stream again")
            self._values = values
        return self._values

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.values()[key])

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        values = self.values()
        return values if dtype is None else values.astype(dtype)


def frame_blocks(frames: FrameArray, parameters: dict[str, Any]) -> Any:
    """The blocks of a field's frames as served: TiledWriter's ``chunk_shape``, else few.

    Without a usable ``chunk_shape`` (:func:`~._joins.tiled_chunks`), one frame a
    block up to :data:`MAX_FRAME_BLOCKS` frames; past it, as many frames a block
    as keep the blocks at most that many and each at most
    :data:`~._joins.MAX_CHUNK_BYTES`. A request for frame ``k`` reads frame ``k``
    either way; only a whole block asked for reads the frames of the block.
    """
    frame_shape = frames.frame_shape or ()
    chunks = tiled_chunks(frames.shape, frames.dtype.itemsize, parameters, None)
    if chunks:
        return chunks
    frame_bytes = max(1, frames.dtype.itemsize * math.prod(frame_shape))
    per_block = min(-(-len(frames) // MAX_FRAME_BLOCKS), MAX_CHUNK_BYTES // frame_bytes)
    return (max(1, per_block), *frame_shape)


def stream_metadata(descriptors: list[dict[str, Any]], data_keys: dict[str, Any]
                    ) -> dict[str, Any]:
    """A stream's metadata as TiledWriter keeps it (see :attr:`Stream.metadata`)."""
    first, *later = descriptors
    meta = {k: v for k, v in first.items() if k not in {"name", "object_keys", "run_start"}}
    meta["data_keys"] = data_keys
    updates = [{"uid": d["uid"], "time": d["time"],
                **({"configuration": d["configuration"]} if d.get("configuration") else {})}
               for d in later]
    if updates:
        meta["_config_updates"] = updates
    return meta


def stream_column(run: _Run, stream: str, extent: column_reads.StreamExtent, field: str,
                  dtype: np.dtype | None) -> Any:
    """Column ``field`` (of declared ``dtype``; ``"time"``: the rows' times) of ``extent``."""
    what = f"field {field!r} of stream {stream!r} of run {run.uid}"
    if field == "time":
        dtype = np.dtype("float64")

        def load() -> np.ndarray:
            return np.array([r[0] for r in run.column_rows(extent, [])], dtype)
    else:
        if dtype is None:
            raise DataLookupError(f"{what} is not a declared column")
        declared = dtype

        def load() -> np.ndarray:
            return typed_column([r[1] for r in run.column_rows(extent, [field])], declared,
                                what)
    return LazyColumn(load, extent.rows, dtype, what)


class _Stream(Protocol):
    """What :func:`stream_dataset` reads of a :class:`Stream`."""

    @property
    def frame_fields(self) -> list[str]: ...
    @property
    def declared_columns(self) -> dict[str, np.dtype] | None: ...

    def has_events(self) -> bool: ...
    def event_count(self) -> int: ...
    def internal_table(self) -> pandas.DataFrame: ...
    def column(self, field: str) -> Any: ...
    def dims(self) -> dict[str, tuple[str, ...]]: ...
    def frames(self, field: str) -> FrameArray: ...
    def joined(self, field: str, frame_shape: tuple[int, ...]) -> int | None: ...
    def array(self, field: str) -> Any: ...


def stream_dataset(stream: _Stream) -> xarray.Dataset:
    """The Dataset of :meth:`Stream.read` (see there).

    With the layout declared (:func:`declared_columns`), nothing of the events'
    table is read: the columns and ``time`` are read when computed, each frame
    when indexed (:mod:`._lazy_arrays`). Otherwise the table is read and the
    columns are its values. ``time`` is a coordinate without an index either way
    (Tiled's client gives it as a variable of the table; an index would read
    every row's time to build it).
    """
    with needs_extra("xarray", "xarray", "reading a stream as a Dataset"):
        import xarray

        from resonance_callback.read._lazy_arrays import lazily_indexed
    declared = stream.declared_columns
    variables: dict[str, Any] = {}
    if declared is None or not stream.has_events():
        table = stream.internal_table()
        n = len(table)
        variables = {c: ("time", column_array(table[c].tolist())) for c in table.columns
                     if c not in ("seq_num", "time") and not c.startswith("ts_")}
        time: Any = np.asarray(table["time"].to_numpy(), dtype="float64")
    else:
        n = stream.event_count()
        variables = {field: ("time", lazily_indexed(stream.column(field)))
                     for field in declared}
        time = lazily_indexed(stream.column("time"))
    for field, dims in stream.dims().items():
        if field in stream.frame_fields:
            frames = stream.frames(field)
            if frames.frame_shape is None:
                continue
            joined = stream.joined(field, frames.frame_shape)
            values = stream.array(field) if joined else lazily_indexed(frames)
        else:
            values = stream.array(field)
        named = dims if values.shape[0] == n else (f"{field}_frame", *dims[1:])
        variables[field] = (distinct_dims(named), values)
    coords = xarray.Coordinates({"time": xarray.Variable("time", time)}, indexes={})
    return xarray.Dataset(variables, coords=coords)
