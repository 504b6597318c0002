"""The root group a frame store writes to; a new folder's is opened at its first use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zarr

from resonance_callback.errors import StorageError
from resonance_callback.store._frame_location import is_object_url, open_frames_group
from resonance_callback.store._zarr_files import make_new_group

__all__ = ["WritableGroup"]


class WritableGroup:
    """The root group of a frame store, to write; a new folder's is opened at its first use.

    Parameters
    ----------
    store : Path, str or zarr store
        A folder (made, with its group, by :func:`make_new_group` when missing), an
        ``s3://`` URL or any zarr store (opened at once).

    Raises
    ------
    OSError
        If the store cannot be opened (:class:`StorageError` naming it).
    """

    def __init__(self, store: Path | str | Any) -> None:
        self.store = store
        self._group: zarr.Group | None = None
        if not (isinstance(store, Path | str) and not is_object_url(store)
                and make_new_group(str(store))):
            self._group = self._open()

    def group(self) -> zarr.Group:
        """The group, opened now if it was not yet."""
        if self._group is None:
            self._group = self._open()
        return self._group

    def _open(self) -> zarr.Group:
        try:
            return open_frames_group(self.store, writable=True)
        except StorageError:  # names the store already
            raise
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot open Zarr store {self.store}: {exc}") from exc
