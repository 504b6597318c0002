"""The columns of a stream: table values as arrays, frame dimension names, configuration.

Helpers of :mod:`resonance_callback.read._stream` (see its documentation for
the layout they follow, TiledWriter's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from resonance_callback._extras import needs_extra

if TYPE_CHECKING:
    import xarray

__all__ = ["SCALAR_DTYPES", "ConfigReading", "column_array", "frame_dims"]

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
