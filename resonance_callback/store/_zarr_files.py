"""Files of the Zarr frame store, written without zarr's per-chunk Python: a group, a chunk."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import zarr
from zarr.errors import ContainsGroupError, GroupNotFoundError

from resonance_callback._new_database import link_new_file

__all__ = ["make_new_group", "open_or_create_group", "put_chunk"]


def open_or_create_group(store: Path | str | Any) -> zarr.Group:
    """Open the group at ``store``, creating it if needed.

    A new directory gets ``create_group``, half the cost of ``open_group`` (which
    first looks for an existing group in several places). Two processes may make
    the same new beamtime at once: the one that loses the create, or that finds the
    directory before the other has written its ``zarr.json``, opens the group once
    it is there (zarr's own ``open_group(mode="a")`` would raise
    ``ContainsGroupError`` when the other wins between its look and its create).
    """
    if not isinstance(store, Path | str):
        return zarr.open_group(store, mode="a")
    for attempt in range(_ATTEMPTS):
        if not os.path.exists(os.path.join(store, "zarr.json")):
            try:
                return zarr.create_group(str(store))
            except ContainsGroupError:
                pass
        try:
            return zarr.open_group(str(store), mode="r+")
        except (GroupNotFoundError, FileNotFoundError, ValueError):  # half written: wait
            time.sleep(0.002 * (attempt + 1))
    return zarr.open_group(str(store), mode="r+")


def make_new_group(folder: str) -> bool:
    """Make a new group's folder and its ``zarr.json``; False, with nothing changed, if it exists.

    The bytes are those ``zarr.create_group`` writes, put in place as zarr puts them (a
    ``.partial`` file beside, then a hard link, which never replaces a ``zarr.json``
    another process wrote meanwhile); but without zarr's event loop, whose start-up
    (a task handed to its thread and waited for) was a third of a new beamtime's cost.
    The group is opened with zarr later, at its first use. Anything unusual (the
    folder exists, its parent does not, a link cannot be made) returns False and
    leaves the folder to :func:`open_or_create_group`.
    """
    try:
        os.mkdir(folder)
    except OSError:
        return False
    spare = os.path.join(folder, f"zarr.{uuid.uuid4().hex}.partial")
    return link_new_file(os.path.join(folder, "zarr.json"), spare, _group_json())


_GROUP_JSON: list[bytes] = []


def _group_json() -> bytes:
    """The ``zarr.json`` of a new group without attributes, as zarr writes it (made once)."""
    if not _GROUP_JSON:
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.group import GroupMetadata

        buffers = GroupMetadata(zarr_format=3).to_buffer_dict(default_buffer_prototype())
        _GROUP_JSON.append(buffers["zarr.json"].to_bytes())
    return _GROUP_JSON[0]


#: How often a group another process is making is looked for (about 2.5 s in all).
_ATTEMPTS = 50


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)


def put_chunk(path: str, data: Any) -> None:
    """Write one chunk file, making its directory first.

    A new 2-D frame's directory (``c/<index>/0``) and its parent never exist,
    so both are made outright (two ``mkdir``) rather than looked for level by
    level as ``os.makedirs`` does; and ``os`` calls rather than a file object:
    each system call gives up the GIL and takes it back from the RunEngine.
    """
    directory = os.path.dirname(path)
    try:
        for made in (os.path.dirname(directory), directory):
            try:
                os.mkdir(made)
            except FileExistsError:
                pass
    except FileNotFoundError:  # deeper frames, or the array's first chunk
        os.makedirs(directory, exist_ok=True)
    fd = os.open(path, _CREATE, 0o666)
    try:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
