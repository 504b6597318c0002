"""What ``check`` reads of the Zarr store: the group, array lengths, frames that do not decode."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import zarr
from zarr.types import AnyArray

from resonance_callback.store import frame_stores

#: Frames read back at once by :func:`_unreadable_frames`.
_BLOCK = 64


def _unreadable_frames(store: Any, group: zarr.Group, path: str, indices: list[int],
                       length: int) -> list[int]:
    """Referenced frames whose chunk file (or shard object) is missing or does not decode."""
    array = group[path]
    assert isinstance(array, zarr.Array)
    indices = [i for i in indices if 0 <= i < length]
    bad = []
    if frame_stores.is_object_url(store):  # a missing shard reads as zeros too
        bad = _missing_in_object_store(store, array, path, indices)
    elif (Path(store) / path).is_dir():  # a missing chunk reads as zeros: look for the files
        rest = (0,) * (array.ndim - 1)
        bad = [i for i in indices if not os.path.isfile(
            Path(store) / path / array.metadata.encode_chunk_key((i, *rest)))]
    for start in range(0, len(indices), _BLOCK):
        block = indices[start:start + _BLOCK]
        try:
            array[block[0]:block[-1] + 1]
        except Exception:  # noqa: BLE001 - any decode failure means the frame is damaged
            for i in block:
                try:
                    array[i]
                except Exception:  # noqa: BLE001
                    bad.append(i)
    return sorted(set(bad))


def _missing_in_object_store(store: str, array: AnyArray, path: str, indices: list[int]
                             ) -> list[int]:
    """Referenced frames whose shard (or, unsharded, chunk) object is not in the store."""
    per_object = array.shards[0] if array.shards is not None else 1
    rest = (0,) * (array.ndim - 1)
    found = set(frame_stores.ObjectFrames(store).keys(f"{path}/c/"))
    return [i for i in indices if f"{path}/" + array.metadata.encode_chunk_key(
        (i // per_object, *rest)) not in found]


def _span(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:5])
    return shown + (f" and {len(indices) - 5} more" if len(indices) > 5 else "")


def _open_group(store: Any) -> zarr.Group | None:
    try:
        return frame_stores.open_frames_group(store, writable=False)
    except (OSError, ValueError, KeyError):
        return None


def _array_length(group: zarr.Group | None, path: str) -> int | None:
    if group is None:
        return None
    try:
        array = group[path]
    except (KeyError, OSError, ValueError):
        return None
    return array.shape[0] if isinstance(array, zarr.Array) and array.ndim else None
