"""Frames to a local S3 server (SeaweedFS) against frames to local disk, through the callback.

The ``frames_s3`` case: the same frame documents into ``RunWriterCallback`` with frames
in a local folder (``callback local disk``) and in a bucket of an S3 server started on
127.0.0.1 for the run, untimed (``callback S3``). Issue 24's target: S3 at least 0.5x
the speed of local disk.

Both promise the same durability: a frame is in the page cache of the file system
(local disk: its chunk file; S3: the server's volume file) before its row commits, with
no ``fsync`` on either side (a killed writer loses nothing committed; a power cut is not
covered by either). Each variant first writes an untimed run of the same frames (a
writer process and a server in service have written before: their heaps, pools and
connections are warm), and the server, on the same two cores as the writer, is left
to go idle before the timed run. The CPU
time of the writer process and of the server during the timed run is noted beside the
speed (``how``): on a busy machine the speed follows it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .measure import Timer, _result

ROOT = Path(__file__).resolve().parent.parent


def frames_s3(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Frame documents through the callback into a bucket of a local S3 server."""
    sys.path.insert(0, str(ROOT))
    from tools.s3_server import S3Server

    server = S3Server(tmp / "s3")
    server.start()
    try:
        os.environ.update(server.environment())
        return _frames(p, tmp, "s3://frames/bench", server)
    finally:
        server.stop()


def frames_local(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The same frame documents through the callback into ``bt.zarr`` beside the database."""
    return _frames(p, tmp, None)


def _frames(p: dict[str, Any], tmp: Path, url: str | None,
            server: Any = None) -> dict[str, Any]:
    import resource

    from resonance_callback import RunWriterCallback

    from .data import frame_docs, frame_pool

    pool = frame_pool(tuple(p["shape"]))
    warm_url = None if url is None else f"{url}-warm"
    with RunWriterCallback(tmp / "warm" / "bt.db", frames=warm_url) as warm:
        for name, doc in frame_docs(pool, p["n"]):
            warm(name, doc)
    docs = list(frame_docs(pool, p["n"]))
    if server is not None:
        server.settle()
    served = server.cpu_seconds() if server is not None else 0.0
    used = resource.getrusage(resource.RUSAGE_SELF)
    with Timer() as t:
        cb = RunWriterCallback(tmp / "bt.db", frames=url)
        for name, doc in docs:
            cb(name, doc)
        cb.close()
    after = resource.getrusage(resource.RUSAGE_SELF)
    how = f"writer CPU {after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime:.2f} s"
    if server is not None:
        how += f", S3 server CPU {server.cpu_seconds() - served:.2f} s"
    return _result(t, how=how, items=p["n"], bytes=p["n"] * pool[0].nbytes,
                   stored_bytes=_stored_bytes(tmp / "bt.zarr" if url is None else url),
                   objects=_objects(url) if url else None)


def _stored_bytes(where: Path | str) -> int:
    if isinstance(where, Path):
        from .measure import chunk_bytes

        return chunk_bytes(where)
    import obstore
    from obstore.store import S3Store

    bucket, _, prefix = where.removeprefix("s3://").partition("/")
    return sum(meta["size"] for batch in obstore.list(S3Store(bucket, prefix=prefix))
               for meta in batch if "/c/" in meta["path"])


def _objects(url: str) -> int:
    from resonance_callback.store import frame_stores

    return sum("/c/" in key for key in frame_stores.ObjectFrames(url).keys(""))
