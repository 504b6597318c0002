"""Opening an HDF5 detector file and one of its datasets without leaving the file.

The file is checked by its resource's :class:`~._guard._FileGuard` before it is
opened. The dataset is then found link by link: an external link anywhere on
its path is refused before HDF5 follows it (so no other file is opened), soft
links are followed inside the file, and a virtual dataset or one with external
raw storage (both map other files) is refused. A file shorter than HDF5's own
record of its end (cut short) is not read: SWMR-read mode would return the
missing bytes as zeros.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resonance_callback.errors import ExternalDataError, UnsafePathError
from resonance_callback.external._common import _NotReadyError
from resonance_callback.external._guard import _FileGuard

if TYPE_CHECKING:
    import h5py
    import numpy as np

_MAX_LINK_HOPS = 32


def open_hdf5(path: str | os.PathLike[str], guard: _FileGuard, what: str, *,
              swmr: bool = True, locking: bool | str | None = None) -> h5py.File:
    """Open ``path`` read-only (SWMR-read unless ``swmr=False``) after the guard's checks.

    ``locking`` is h5py's (None: HDF5's default). A file cut short is refused.
    """
    import h5py  # a dependency, imported when an HDF5 file is read

    guard.check(path, what, whole=False)  # its slices are bounded as they are read
    options: dict[str, Any] = {} if locking is None else {"locking": locking}
    file = h5py.File(path, "r", swmr=swmr, **options)
    try:
        recorded, actual = file.id.get_filesize(), os.path.getsize(path)
        if actual < recorded:
            raise _NotReadyError(
                f"{what}: {str(path)!r} is truncated: {actual} bytes on disk, HDF5 records "
                f"{recorded}"
            )
    except BaseException:
        file.close()
        raise
    return file


def _link_path(name: str) -> list[str]:
    return [part for part in name.split("/") if part and part != "."]


def dataset_in(file: h5py.File, name: str, what: str) -> Any:
    """Return dataset ``name`` of ``file``, refusing anything that reads another file.

    Raises
    ------
    UnsafePathError
        An external link on the path, a virtual dataset, or external raw storage.
    _NotReadyError
        The dataset does not exist (yet).
    """
    import h5py

    parts, done, hops = _link_path(name), "/", 0
    while parts:
        here = posixpath.join(done, parts.pop(0))
        link = file.get(here, getlink=True)
        if link is None:
            raise _NotReadyError(f"{what}: {file.filename} has no {here} (yet)")
        if isinstance(link, h5py.ExternalLink):
            raise UnsafePathError(
                f"{what}: {here} in {file.filename!r} is an external link to "
                f"{link.filename!r}:{link.path}; HDF5 external links are refused"
            )
        if isinstance(link, h5py.SoftLink):
            hops += 1
            if hops > _MAX_LINK_HOPS:
                raise ExternalDataError(f"{what}: soft links of {name} loop in {file.filename}")
            target = posixpath.normpath(posixpath.join(done, link.path))
            parts, done = _link_path(target) + parts, "/"
            continue
        done = here
    dataset = file[done]
    if not isinstance(dataset, h5py.Dataset):
        raise ExternalDataError(f"{what}: {done} in {file.filename!r} is not a dataset")
    if dataset.is_virtual:
        raise UnsafePathError(
            f"{what}: {done} in {file.filename!r} is a virtual dataset (it maps other "
            "files); refused"
        )
    if dataset.external:
        raise UnsafePathError(
            f"{what}: {done} in {file.filename!r} keeps its data in external files "
            f"{[str(entry[0]) for entry in dataset.external]}; refused"
        )
    return dataset


def read_rows(dataset: Any, start: int, stop: int | None, guard: _FileGuard, what: str
              ) -> np.ndarray:
    """Read rows ``[start, stop)`` (or row ``start`` when ``stop`` is None) within the bound."""
    rows = 1 if stop is None else max(0, stop - start)
    row_bytes = dataset.dtype.itemsize
    for size in dataset.shape[1:]:
        row_bytes *= int(size)
    guard.check_bytes(rows * row_bytes, f"{what} ({Path(dataset.file.filename).name})")
    read: np.ndarray = dataset[start] if stop is None else dataset[start:stop]  # h5py: untyped
    guard.count(rows * row_bytes)
    return read
