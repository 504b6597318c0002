"""The columns of a stream: table values as arrays, frame dimension names, configuration.

Helpers of :mod:`resonance_callback.read._stream` (see its documentation for
the layout they follow, TiledWriter's).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from resonance_callback._extras import needs_extra

if TYPE_CHECKING:
    import pandas
    import xarray

__all__ = ["SCALAR_DTYPES", "ConfigReading", "array_columns", "column_array", "config_readings",
           "distinct_dims", "frame_dims", "timestamps_dataset"]

#: Declared dtypes of a scalar: a detector-file value of shape [1] with one of
#: them reads as a scalar per event, as TiledWriter reads it (ophyd-async's ``det-sum``).
SCALAR_DTYPES = ("number", "integer", "boolean", "string")


def frame_dims(stream_fields: Mapping[str, tuple[dict[str, Any], tuple[int, ...]]],
               ) -> dict[str, tuple[str, ...]]:
    """Name the dimensions of a stream's frame fields as TiledWriter does.

    Parameters
    ----------
    stream_fields : mapping
        ``{field: (data_key, frame_shape)}`` in the order of the descriptor.

    Returns
    -------
    dict
        ``{field: dims}``, each starting with ``"time"``.
    """
    by_size: dict[int, str] = {}
    out: dict[str, tuple[str, ...]] = {}
    for field, (data_key, shape) in stream_fields.items():
        if "external" in data_key:
            declared = list(data_key.get("dims") or ())
            if len(declared) == len(shape):
                out[field] = ("time", *declared)
            else:
                out[field] = ("time", *(f"{field}_dim{i}" for i in range(1, len(shape) + 1)))
            continue
        dims = ["time"]
        for size in shape:
            dims.append(by_size.setdefault(size, f"dim_int_{len(by_size) + 1}"))
        out[field] = tuple(dims)
    return out


def distinct_dims(dims: tuple[str, ...]) -> tuple[str, ...]:
    """``dims`` with a repeated name made distinct: its k-th use is ``{name}_{k}``.

    Square frames get TiledWriter's ``("time", "dim_int_1", "dim_int_1")`` (one
    name per size); xarray warns about a repeated name and ``to_dataframe()``
    refuses it, so :meth:`Stream.read` gives ``("time", "dim_int_1",
    "dim_int_1_2")``. Two fields of one shape still share every name.
    """
    out: list[str] = []
    for name in dims:
        k, unique = 1, name
        while unique in out:
            k += 1
            unique = f"{name}_{k}"
        out.append(unique)
    return tuple(out)


def column_array(values: list[Any]) -> np.ndarray:
    """Turn one table column into the numpy array Tiled's client gives for it.

    Numbers, booleans and strings become a plain array (strings ``<U``);
    lists of equal length a 2-D array; anything else an object array.
    """
    try:
        out = np.asarray(values)
    except ValueError:  # ragged lists
        out = np.empty(len(values), dtype=object)
        out[:] = values
    if out.dtype.kind == "O" and all(isinstance(v, str) for v in values):
        out = out.astype("U")
    return out


class ConfigReading:
    """One device's configuration readings in a stream, one row per descriptor.

    ``stream.config["det"].read()`` is an :class:`xarray.Dataset` with
    dimension ``time`` (the descriptors' times), as in databroker 2.
    """

    def __init__(self, device: str, rows: list[tuple[float, dict[str, Any]]]) -> None:
        self.device = device
        self._rows = rows

    def __repr__(self) -> str:
        return f"<ConfigReading {self.device} ({len(self._rows)} descriptors)>"

    def read(self) -> xarray.Dataset:
        """Return the readings as a Dataset, one variable per configuration field."""
        with needs_extra("xarray", "xarray", "reading a stream as a Dataset"):
            import xarray
        keys = list(dict.fromkeys(k for _, data in self._rows for k in data))
        variables = {k: ("time", column_array([data.get(k) for _, data in self._rows]))
                     for k in keys}
        return xarray.Dataset(variables, coords={"time": [t for t, _ in self._rows]})


def array_columns(table: pandas.DataFrame, frame_fields: Collection[str],
                  data_keys: Mapping[str, Mapping[str, Any]],
                  streamed: Collection[str]) -> dict[str, np.ndarray]:
    """Inline fields of a stream's table whose values are arrays of one shape, and scalars.

    The scalars are the numeric ones of ophyd-async (``streamed``) fields, and those
    declared with shape [1] (unwrapped).
    """
    frames = set(frame_fields)
    out = {}
    for column in table.columns:
        if column in ("seq_num", "time") or column.startswith("ts_") or column in frames:
            continue
        values = column_array(table[column].tolist())
        if values.ndim > 1 and values.shape[1:] == (1,) and data_keys.get(
                column, {}).get("dtype") in SCALAR_DTYPES:
            out[column] = values[:, 0]  # a scalar declared with shape [1]
        elif values.ndim > 1 or (column in streamed and values.dtype.kind in "biuf"):
            out[column] = values
    return out


def config_readings(descriptors: list[dict[str, Any]]) -> dict[str, ConfigReading]:
    """Per device, its configuration readings in a stream's ``descriptors``."""
    per_device: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    for desc in descriptors:
        for device, cfg in (desc.get("configuration") or {}).items():
            per_device.setdefault(device, []).append(
                (desc.get("time", 0.0), dict(cfg.get("data") or {})))
    return {device: ConfigReading(device, rows) for device, rows in per_device.items()}


def timestamps_dataset(table: pandas.DataFrame) -> xarray.Dataset:
    """The ``ts_{field}`` columns of a stream's ``internal`` table as a Dataset."""
    with needs_extra("xarray", "xarray", "reading a stream as a Dataset"):
        import xarray
    variables = {c: ("time", column_array(table[c].tolist()))
                 for c in table.columns if c.startswith("ts_")}
    return xarray.Dataset(variables, coords={"time": table["time"].to_numpy()})
