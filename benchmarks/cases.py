"""One benchmark variant, run in its own process: ``python -m benchmarks.cases VARIANT JSON``.

Each variant first makes one small untimed run of itself (``WARM_UP``), so what is
timed is the steady state a session sees, not a fresh interpreter's one-time costs.

Prints one JSON object: ``seconds`` (the timed part), what was counted, and the
process's memory: ``rss_before_mb`` (after its inputs were made, before the
timed part) and ``rss_peak_mb`` (``VmHWM``, the whole life of the process).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from .cases_re import frames_bulk, frames_callback, frames_raw, re_count, re_image
from .cases_read import memory_callback, reader_frame, reader_table, replay_callback, replay_parse
from .hand_loop import insert_documents, schema_sql
from .measure import WARM_UP, Timer, _result, rss_peak_mb

# -- 1. scalar ingest ------------------------------------------------------------------


def ingest_callback(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from resonance_callback import RunWriterCallback

    from .data import scalar_docs

    def ingest(db: Path, docs: list[tuple[str, dict[str, Any]]]) -> None:
        cb = RunWriterCallback(db)
        for name, doc in docs:
            cb(name, doc)
        cb.close()

    ingest(tmp / "warm" / "bt.db", list(scalar_docs(WARM_UP)))
    docs = list(scalar_docs(p["n"]))
    with Timer() as t:
        ingest(tmp / "bt.db", docs)
    conn = sqlite3.connect(tmp / "bt.db")
    stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.close()
    assert stored == p["n"], (stored, p["n"])
    return _result(t, items=p["n"])


def ingest_sqlite(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The hand-written baseline: the same tables, json.dumps + executemany per 1,000 rows."""
    from .data import scalar_docs

    sql = schema_sql()
    insert_documents(scalar_docs(WARM_UP), tmp / "warm.db", sql)
    docs = list(scalar_docs(p["n"]))
    with Timer() as t:
        insert_documents(docs, tmp / "plain.db", sql)
    return _result(t, items=p["n"])


def ingest_jsonl(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from suitcase.jsonl import Serializer

    from .data import scalar_docs

    def ingest(directory: Path, docs: list[tuple[str, dict[str, Any]]]) -> None:
        with Serializer(str(directory)) as serializer:
            for name, doc in docs:
                serializer(name, doc)

    ingest(tmp / "warm", list(scalar_docs(WARM_UP)))
    docs = list(scalar_docs(p["n"]))
    with Timer() as t:
        ingest(tmp, docs)
    return _result(t, items=p["n"])


def _tiled_writer() -> Any:
    try:
        from bluesky_tiled_plugins.writing.tiled_writer import TiledWriter
    except ImportError:
        from bluesky.callbacks.tiled_writer import TiledWriter
    return TiledWriter


def ingest_tiled(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """bluesky's TiledWriter against a Tiled server on 127.0.0.1, started in this process."""
    import logging

    from tiled.client import from_uri
    from tiled.server import SimpleTiledServer

    from .data import scalar_docs

    logging.getLogger("tiled").setLevel(logging.WARNING)
    TiledWriter = _tiled_writer()  # noqa: N806
    docs = list(scalar_docs(p["n"]))
    server = SimpleTiledServer(directory=tmp / "tiled")
    try:
        client = from_uri(server.uri)
        warm = TiledWriter(client)
        for name, doc in scalar_docs(WARM_UP):
            warm(name, doc)
        with Timer() as t:
            writer = TiledWriter(client)
            for name, doc in docs:
                writer(name, doc)
        uid = docs[0][1]["uid"]
        stored = len(client[uid]["primary"].read()["det"])
        assert stored == p["n"], (stored, p["n"])
    finally:
        server.close()
    return _result(t, items=p["n"])


VARIANTS = {
    "ingest_callback": ingest_callback,
    "ingest_sqlite": ingest_sqlite,
    "ingest_jsonl": ingest_jsonl,
    "ingest_tiled": ingest_tiled,
    "re_count": re_count,
    "re_image": re_image,
    "frames_callback": frames_callback,
    "frames_bulk": frames_bulk,
    "frames_raw": frames_raw,
    "replay_callback": replay_callback,
    "replay_parse": replay_parse,
    "reader_table": reader_table,
    "reader_frame": reader_frame,
    "memory_callback": memory_callback,
}


def main() -> None:
    from .frames_s3 import frames_local, frames_s3
    from .metadata_cases import metadata_store, metadata_upgrade
    from .read_curves import read_curves_case
    from .replay_cases import replay_loop
    from .scale import scale_case
    from .serve_cases import serve_case

    VARIANTS.update(replay_loop=replay_loop, scale=scale_case, serve=serve_case,
                    metadata_store=metadata_store, metadata_upgrade=metadata_upgrade,
                    read_curves=read_curves_case, frames_local=frames_local,
                    frames_s3=frames_s3)
    variant, params = sys.argv[1], json.loads(sys.argv[2])
    with tempfile.TemporaryDirectory(prefix=f"rcbench-{variant}-",
                                     dir=params.get("tmpdir")) as tmp:
        (Path(tmp) / "warm").mkdir()  # for the untimed warm-up run
        result = VARIANTS[variant](params, Path(tmp))
    result["rss_peak_mb"] = rss_peak_mb()
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
