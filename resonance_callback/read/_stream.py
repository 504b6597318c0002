"""A run's stream read the way databroker 2 and Tiled's bluesky client read it.

``run["primary"]`` (or ``run.primary``) is a :class:`Stream`; ``stream.read()`` is an
:class:`xarray.Dataset` with dimension ``time`` (the events' times, a coordinate), one
variable per field, each read only when indexed or computed (:mod:`._stream_layout`:
how the layout is decided from the descriptors). The layout follows what TiledWriter stores
(bluesky-tiled-plugins, BlueskyRun spec 3.0), so the same Dataset comes out of
``stream.read()`` here, of our Tiled server and of a TiledWriter-fed catalog:

- variables: every field of the descriptors (timestamps: :meth:`Stream.timestamps`);
- dimensions of a frame field: ``time``, then the field's declared ``dims``
  for a field from a detector file (``{field}_dim{i}`` when none are
  declared), else ``dim_int_{n}`` named by size, one name per distinct size
  in the stream (TiledWriter's rule for arrays that came in the events); only
  ``read()`` here makes a name repeated in one field distinct (``dim_int_1_2``);
- a value from a detector file declared a scalar (``dtype`` number, integer,
  boolean or string) with shape ``[1]`` is one scalar per event;
- every ophyd-async (``STREAM:``) field is an array field, a numeric or boolean scalar
  per event too (TiledWriter's detector-file array nodes; text stays in the table);
- a field whose stream resource has ``join_method="concat"`` and ``n > 1``
  rows per event is served joined, ``N * n`` rows (:mod:`._joins`).
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from resonance_callback._extras import needs_extra
from resonance_callback.errors import DataLookupError, FrameShapeError
from resonance_callback.read import _joins
from resonance_callback.read._columns import (
    ConfigReading,
    array_columns,
    column_array,
    config_readings,
    frame_dims,
    timestamps_dataset,
)
from resonance_callback.read._stream_layout import (
    declared_columns,
    frame_blocks,
    stream_column,
    stream_dataset,
    stream_metadata,
)
from resonance_callback.read._stream_run import _Run

if TYPE_CHECKING:
    import pandas
    import xarray

    from resonance_callback.read._frames import FrameArray
    from resonance_callback.read._sources import StreamResourceRef
    from resonance_callback.store import column_reads

__all__ = ["ConfigReading", "Stream", "column_array", "frame_dims"]


class Stream:
    """One stream of a run: ``run["primary"]``, read as databroker 2 reads it.

    Parameters
    ----------
    run : Run
        The run.
    name : str
        The stream's name.

    Attributes
    ----------
    name : str
        The stream's name.
    """

    def __init__(self, run: _Run, name: str) -> None:
        self._run = run
        self.name = name
        self.descriptors = run.descriptors(name)  # raises if there is no such stream

    def __repr__(self) -> str:
        return f"<Stream {self.name!r} of run {self._run.uid[:8]}: {sorted(self.data_keys)}>"

    @cached_property
    def data_keys(self) -> dict[str, dict[str, Any]]:
        """Every field of the stream's descriptors, with its data key."""
        out: dict[str, dict[str, Any]] = {}
        for desc in self.descriptors:
            out.update(desc.get("data_keys") or {})
        return out

    @property
    def metadata(self) -> dict[str, Any]:
        """The stream's metadata as TiledWriter keeps it (first descriptor, ``_config_updates``)."""
        return stream_metadata(self.descriptors, self.data_keys)

    @cached_property
    def _unresolved(self) -> dict[str, dict[int, str]]:
        return self._run.unresolved_frames(self.name)

    @cached_property
    def frame_fields(self) -> list[str]:
        """The fields whose values are frames in the Zarr store, in the descriptor's order.

        Also a field whose frames were never stored (unresolved): read as gaps that raise.
        """
        stored = set(self._run.image_fields(self.name)) | set(self._unresolved)
        return [k for k in dict.fromkeys([*self.data_keys, *sorted(stored)]) if k in stored]

    @cached_property
    def stream_resources(self) -> dict[str, list[StreamResourceRef]]:
        """Per field, the stream resources (with their stream datums) its frames were read from."""
        return self._run.stream_resources(self.name)

    def frames(self, field: str) -> FrameArray:
        """Return the frames of ``field``, lazily (see :meth:`Run.images`).

        Where a frame was never stored, reading it raises
        :class:`~resonance_callback.errors.StorageError` naming the reference
        and why, as reading a file TiledWriter's catalog cannot open raises.
        """
        gaps = self._unresolved.get(field)
        if gaps:
            seq_nums = [int(s) for s in self._full_table["seq_num"]]
            return self._run.stream_frames(field, self.name, seq_nums, gaps)
        return self._run.images(field, self.name)

    @cached_property
    def _full_table(self) -> pandas.DataFrame:
        return self._run.stored_table(self.name, timestamps=True)

    @cached_property
    def _extent(self) -> column_reads.StreamExtent:
        """The stream's rows, counted or found from a frame field's spans (not read)."""
        frame_field = None if self._unresolved else next(iter(self.frame_fields), None)
        return self._run.stream_extent(self.name, frame_field)

    @cached_property
    def declared_columns(self) -> dict[str, np.dtype] | None:
        """The columns (fields not frames) and dtypes the descriptors decide, else None.

        When they decide (:mod:`._stream_layout`), no layout reads the table.
        """
        return None if self._unresolved else declared_columns(self.descriptors,
                                                              self.frame_fields)

    def column(self, field: str) -> Any:
        """A declared column (or ``"time"``), read when its values are first asked for."""
        return stream_column(self._run, self.name, self._extent, field,
                             (self.declared_columns or {}).get(field))

    @cached_property
    def _streamed(self) -> list[str]:
        """The ophyd-async fields: their data came in stream_datum documents."""
        return [k for k, dk in self.data_keys.items()
                if isinstance(dk, dict) and str(dk.get("external", "")).startswith("STREAM:")]

    @cached_property
    def _resources(self) -> dict[str, dict[str, Any]]:
        # each detector-file field's (stream) resource; a v1 field's first datum id names it
        v1 = [f for f in self.frame_fields if f not in self._streamed
              and "external" in (self.data_keys.get(f) or {})]
        datum_ids = self._run.first_texts(self._extent, v1) if v1 else {}
        return self._run.field_resources(self._streamed, datum_ids)

    def field_resource(self, field: str) -> dict[str, Any]:
        """The (stream) resource document ``field``'s frames were read from; ``{}`` if none."""
        return self._resources.get(field, {})

    def field_metadata(self, field: str) -> dict[str, Any]:
        """What TiledWriter adds to the metadata of a detector-file field's array node.

        ``spec`` and ``frame_per_point`` (the ``multiplier``) of its (stream)
        resource, when set; ``{}`` for any other field.
        """
        return _joins.node_metadata(self._parameters(field))

    def frame_chunks(self, field: str, frames: FrameArray) -> Any:
        """The blocks ``field``'s frames are served in over Tiled (see ``frame_blocks``)."""
        return frame_blocks(frames, self._parameters(field))

    def _parameters(self, field: str) -> dict[str, Any]:
        return _joins.resource_parameters(self.field_resource(field))

    def joined(self, field: str, frame_shape: tuple[int, ...]) -> int | None:
        """Rows per event joined into one (``concat``) for ``field``, else None."""
        declared = self.data_keys.get(field, {}).get("shape")
        return _joins.joined_rows(declared, self._parameters(field), frame_shape)

    @cached_property
    def _array_columns(self) -> dict[str, np.ndarray]:
        """Inline fields whose values are arrays of one shape, and ophyd-async scalars."""
        if self.declared_columns is not None:
            return {}  # every field not a frame is a declared scalar
        return array_columns(self._full_table, self.frame_fields, self.data_keys, self._streamed)

    def dims(self) -> dict[str, tuple[str, ...]]:
        """Return the dimension names of every array field (see the module's rule).

        Array fields are the frame fields and the inline fields whose values
        are arrays of one shape; each is an array node of its own on the
        Tiled server, not a column of the ``internal`` table.
        """
        shapes = {f: tuple(v.shape[1:]) for f, v in self._array_columns.items()}
        shapes.update({f: tuple(self.frames(f).shape[1:]) for f in self.frame_fields})
        fields = {f: (self.data_keys[f], shapes[f][1:] if self.joined(f, shapes[f])
                      else shapes[f]) for f in self.data_keys if f in shapes}
        for field in self.frame_fields:  # frames of a field no descriptor declares
            fields.setdefault(field, ({}, shapes[field]))
        return frame_dims(fields)

    def array(self, field: str) -> Any:
        """Return an array field's values: frames as a lazy dask array, else numpy.

        Raises
        ------
        KeyError
            If ``field`` is not an array field of the stream (:class:`DataLookupError`).
        """
        if field in self._array_columns:
            return self._joined_rows(field, self._array_columns[field])
        if field not in self.frame_fields:
            raise DataLookupError(f"stream {self.name!r} of run {self._run.uid} has no array "
                                  f"field {field!r}; its array fields are {list(self.dims())}")
        with needs_extra("xarray", "dask", "reading frames as dask arrays"):
            import dask.array
        frames = self.frames(field)
        if frames.frame_shape is None:
            raise FrameShapeError(f"frames of {frames.name} have different shapes; read them "
                                  f"one at a time with run.images({field!r})")
        return self._joined_rows(field, dask.array.from_array(
            frames, chunks=(1, *frames.frame_shape), asarray=True, fancy=False,
            name=f"{self._run.uid}-{self.name}-{field}-{len(frames)}"))

    def _joined_rows(self, field: str, values: Any) -> Any:
        """``values`` as TiledWriter serves them: rows joined (``concat``), its chunks."""
        rows = self.joined(field, tuple(values.shape[1:]))
        if rows:
            values = values.reshape((values.shape[0] * values.shape[1], *values.shape[2:]))
        chunks = _joins.tiled_chunks(tuple(values.shape), values.dtype.itemsize,
                                     self._parameters(field), rows)
        return values.rechunk(chunks) if chunks and hasattr(values, "rechunk") else values

    @property
    def config(self) -> dict[str, ConfigReading]:
        """Per device, its configuration readings: ``stream.config["det"].read()``."""
        return config_readings(self.descriptors)

    def has_events(self) -> bool:
        """Return whether the stream has any stored event row."""
        return self.event_count() > 0

    def event_count(self) -> int:
        """Return the stream's events rows when first asked (not read: counted or found)."""
        return self._extent.rows

    def internal_table(self, keep: Collection[str] = ()) -> pandas.DataFrame:
        """Return the event values as TiledWriter's ``internal`` table.

        Columns ``seq_num``, ``time``, every field that is not an array field
        (see :meth:`dims`), then ``ts_{field}`` for each; one row per stored event.
        The array fields in ``keep`` stay in the table, each value a nested list
        (as TiledWriter keeps a small array of the events in its table).
        """
        table = self._full_table
        arrays = (set(self.frame_fields) | set(self._array_columns)) - set(keep)
        drop = [c for c in table.columns
                if c in arrays or (c.startswith("ts_") and c[3:] in arrays)]
        out = table.drop(columns=drop)
        for field in keep:
            if field not in self._array_columns:
                out[field] = [value.tolist() for value in np.asarray(self.array(field))]
        return out

    def read(self) -> xarray.Dataset:
        """Return the stream as an :class:`xarray.Dataset`.

        Returns
        -------
        xarray.Dataset
            Dimension ``time`` (a coordinate without index: the events' times);
            one variable per field, its dimension names distinct (``to_dataframe()``
            works), each read only when indexed or computed: ``ds["img"][k]`` reads
            frame ``k`` alone (``ds.chunk({"time": 1})`` for dask arrays). A field
            with frames of different shapes is left out (``run.images``).

        Raises
        ------
        ImportError
            Without xarray and dask (:class:`MissingExtraError`, naming the
            ``xarray`` extra).
        """
        return stream_dataset(self)

    def timestamps(self) -> xarray.Dataset:
        """Return each field's timestamps as a Dataset (variables ``ts_{field}``)."""
        return timestamps_dataset(self.internal_table())
