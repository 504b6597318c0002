"""Arrays xarray indexes lazily: ``ds["img"][k]`` reads frame ``k`` and nothing else.

A dask array of one chunk per frame costs time in its number of chunks to build,
slice and compute (its graph, the cumulative sums of its chunks): 150 ms for one
frame of a 100,000-frame run. Wrapped as xarray's backends wrap a file's arrays
(:class:`xarray.backends.BackendArray` in
:class:`~xarray.core.indexing.LazilyIndexedArray`), indexing is composed without
reading and only the frames (or rows) finally asked for are read, in time
independent of the run's length. ``ds.chunk({"time": 1})`` makes dask arrays
of them for those who want dask.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from resonance_callback._extras import needs_extra

with needs_extra("xarray", "xarray", "reading a stream as a Dataset"):
    from xarray.backends import BackendArray
    from xarray.core import indexing

__all__ = ["lazily_indexed"]


class _Source(BackendArray):
    """Any array-like indexable by a tuple of integers and slices (a ``FrameArray``)."""

    def __init__(self, source: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self._source = source
        self.shape = shape
        self.dtype = dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> Any:
        return indexing.explicit_indexing_adapter(key, self.shape,
                                                  indexing.IndexingSupport.BASIC, self._raw)

    def _raw(self, key: tuple[Any, ...]) -> np.ndarray:
        return np.asarray(self._source[key])


def lazily_indexed(source: Any) -> Any:
    """``source`` (``shape``, ``dtype``, basic indexing) as an array xarray indexes lazily."""
    return indexing.LazilyIndexedArray(
        _Source(source, tuple(source.shape), np.dtype(source.dtype)))
