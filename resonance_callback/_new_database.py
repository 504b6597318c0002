"""A new database file written whole from an image of its migrated, empty self.

Running every migration's SQL on a new file costs far more than the file's
few pages (each statement that changes the schema parses the whole schema
again): at five beamtime migrations it was most of a new beamtime's fixed
cost. So the migrations run once per process, on an in-memory database with
the page size new files get, and a new file gets the bytes that run left, put
in place with a hard link (which never replaces a file another process made
meanwhile). The schema, ``application_id`` and ``user_version`` are exactly
what the migrations make, since the image is what they made.

Anything unusual (the path exists, even empty; the directory cannot hold a
hard link; the image cannot be made) leaves the file to the usual path:
:func:`resonance_callback._sqlite.migrate` on a new connection.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["create_from_image", "link_new_file"]

#: Bytes 18 and 19 of an SQLite file: its write and read format, 2 for WAL.
_WAL_FORMAT = (18, 20, b"\x02\x02")

_images: dict[tuple[str, int], bytes] = {}
_lock = threading.Lock()


#: ``resonance_callback._sqlite.migrate``, handed over by its caller.
Migrate = Callable[[sqlite3.Connection, str], int]


def _image(kind: str, page_size: int, migrate: Migrate) -> bytes | None:
    """The bytes of a new, migrated, empty database of ``kind`` in WAL format (made once)."""
    key = (kind, page_size)
    with _lock:
        image = _images.get(key)
        if image is None:
            conn = sqlite3.connect(":memory:", isolation_level=None)
            try:
                conn.execute(f"PRAGMA page_size = {page_size}")
                migrate(conn, kind)
                raw = bytearray(conn.serialize())
            except (sqlite3.Error, AttributeError):  # no serialize() in this sqlite3
                return None
            finally:
                conn.close()
            start, end, wal = _WAL_FORMAT
            raw[start:end] = wal
            image = _images[key] = bytes(raw)
        return image


def create_from_image(path: Path, kind: str, page_size: int, migrate: Migrate, *,
                      sync: bool) -> bool:
    """Make the database file at ``path`` from the image; False if it was not made here.

    Parameters
    ----------
    path : Path
        The new file; nothing is done if anything exists there.
    kind : {"beamtime", "index"}
        Which kind of database.
    page_size : int
        The page size of the file.
    migrate : callable
        ``migrate(conn, kind)``: brings an empty database to the latest schema.
    sync : bool
        ``fsync`` the file before it appears (``synchronous = FULL`` or stronger).
    """
    if os.path.lexists(path):
        return False
    image = _image(kind, page_size, migrate)
    if image is None:
        return False
    return link_new_file(path, path.with_name(f".{path.name}.{uuid.uuid4().hex}.new"), image,
                         sync=sync)


def link_new_file(path: str | os.PathLike[str], spare: str | os.PathLike[str], data: bytes,
                  *, sync: bool = False) -> bool:
    """Write ``data`` to the new file ``spare``, then hard-link it as ``path``; False on failure.

    The link fails if ``path`` exists, so a file another process made meanwhile is never
    replaced, and ``path`` never shows a part-written file. ``spare`` is removed either
    way; with ``sync`` its bytes are on disk before ``path`` appears.
    """
    try:
        fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.link(spare, path)  # fails if another process made the file meanwhile
    except OSError:
        return False
    finally:
        try:
            os.unlink(spare)
        except OSError:
            pass
    return True
