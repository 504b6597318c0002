"""One benchmark variant, run in its own process: ``python -m benchmarks.cases VARIANT JSON``.

Each variant first makes one small untimed run of itself (``WARM_UP``), so what is
timed is the steady state a session sees, not a fresh interpreter's one-time costs.

Prints one JSON object: ``seconds`` (the timed part), what was counted, and the
process's memory: ``rss_before_mb`` (after its inputs were made, before the
timed part) and ``rss_peak_mb`` (``VmHWM``, the whole life of the process).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def rss_peak_mb() -> float:
    """Peak RSS of this process: ``VmHWM``, not ``ru_maxrss``, which on Linux keeps the
    parent's RSS at the fork before ``exec``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1e3  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kB on Linux


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def chunk_bytes(zarr_dir: Path) -> int:
    """Bytes of chunk files (not metadata) under a Zarr v3 directory store."""
    return sum(p.stat().st_size for p in Path(zarr_dir).rglob("*")
               if p.is_file() and "/c/" in p.as_posix())


class Timer:
    def __enter__(self) -> Timer:
        gc.collect()
        self.rss_before = rss_now_mb()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.t0


def _result(timer: Timer, **extra: Any) -> dict[str, Any]:
    return {"seconds": timer.seconds, "rss_before_mb": timer.rss_before, **extra}


#: Events of the untimed run each variant makes first, so that one-time costs of a
#: fresh process (lazy imports, Zarr's I/O thread, first connections) are not timed,
#: for every variant alike.
WARM_UP = 10


def _warm_callback(tmp: Path) -> None:
    from resonance_callback import RunWriterCallback

    from .data import scalar_docs

    with RunWriterCallback(tmp / "warm" / "bt.db") as cb:
        for name, doc in scalar_docs(WARM_UP):
            cb(name, doc)


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
    import resonance_callback

    from .data import scalar_docs

    sql = (Path(resonance_callback.__file__).parent / "store" / "sql"
           / "0001_initial.sql").read_text()
    insert = ("INSERT INTO events (uid, stream_uid, seq_num, time, data, timestamps, filled, "
              "derived) VALUES (?, ?, ?, ?, ?, ?, ?, 0)")
    dumps = json.dumps

    def ingest(db: Path, docs: list[tuple[str, dict[str, Any]]]) -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(sql)
        rows: list[tuple[Any, ...]] = []
        for name, doc in docs:
            if name == "event":
                rows.append((doc["uid"], doc["descriptor"], doc["seq_num"], doc["time"],
                             dumps(doc["data"]), dumps(doc["timestamps"]), None))
                if len(rows) == 1000:
                    conn.execute("BEGIN")
                    conn.executemany(insert, rows)
                    conn.execute("COMMIT")
                    rows = []
            elif name == "start":
                conn.execute("INSERT INTO runs (uid, plan_name, time_start, metadata) "
                             "VALUES (?, ?, ?, ?)",
                             (doc["uid"], doc.get("plan_name"), doc["time"], dumps(doc)))
            elif name == "descriptor":
                conn.execute("INSERT INTO streams (uid, run_uid, name, time, data_keys, document)"
                             " VALUES (?, ?, ?, ?, ?, ?)",
                             (doc["uid"], doc["run_start"], doc["name"], doc["time"],
                              dumps(doc["data_keys"]), dumps(doc)))
            elif name == "stop":
                conn.execute("BEGIN")
                if rows:
                    conn.executemany(insert, rows)
                conn.execute("UPDATE runs SET time_stop = ?, exit_status = ?, stop_document = ?"
                             " WHERE uid = ?",
                             (doc["time"], "success", dumps(doc), doc["run_start"]))
                conn.execute("COMMIT")
        conn.close()

    ingest(tmp / "warm.db", list(scalar_docs(WARM_UP)))
    docs = list(scalar_docs(p["n"]))
    with Timer() as t:
        ingest(tmp / "plain.db", docs)
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


# -- 2. RunEngine overhead ------------------------------------------------------------------


def _run_engine() -> Any:
    from bluesky import RunEngine

    return RunEngine({}, call_returns_result=True)


def _count_with_callback(detector: Any, p: dict[str, Any], tmp: Path,
                         warm: int) -> tuple[Timer, dict[str, float] | None]:
    """Time ``RE(count([detector], num=n))``, the callback subscribed if ``p["subscriber"]``.

    The callback is made and closed inside the timing. Returns the timer and, with a
    subscriber, the RunEngine thread's seconds inside the callback: all documents
    (``"all"``, the drain at stop included) and events only (``"event"``).
    """
    from bluesky.plans import count

    from resonance_callback import RunWriterCallback

    RE = _run_engine()  # noqa: N806
    RE(count([detector], num=warm))  # warm up
    if not p["subscriber"]:
        with Timer() as t:
            RE(count([detector], num=p["n"]))
        return t, None
    _warm_callback(tmp)
    inside = {"all": 0.0, "event": 0.0}
    with Timer() as t:
        cb = RunWriterCallback(tmp / "bt.db")

        def timed(name: str, doc: dict[str, Any]) -> None:
            t0 = time.perf_counter()
            cb(name, doc)
            spent = time.perf_counter() - t0
            inside["all"] += spent
            if name == "event":
                inside["event"] += spent

        RE.subscribe(timed)
        RE(count([detector], num=p["n"]))
        cb.close()
    return t, inside


def re_count(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """``RE(count([det], num=n))``, no subscriber or the callback (closed in the timing)."""
    from ophyd.sim import det

    t, inside = _count_with_callback(det, p, tmp, warm=5)
    extra: dict[str, Any] = {"items": p["n"]}
    if inside is not None:  # the RunEngine thread's own time in the callback, drain included
        extra["caller_us_per_event"] = 1e6 * inside["all"] / p["n"]
        extra["caller_share"] = inside["all"] / t.seconds
    return _result(t, **extra)


def _image_detector(shape: tuple[int, int]) -> Any:
    import itertools

    from ophyd.sim import SynSignal

    from .data import frame_pool

    pool = frame_pool(shape)
    cycle = itertools.cycle(pool)
    # A fresh array on every read, as a real detector's driver would hand over.
    return SynSignal(func=lambda: next(cycle).copy(), name="img", labels={"detectors"})


def re_image(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """``RE(count([img], num=n))``, a 512x512 uint16 detector; callback time on the RE thread."""
    t, inside = _count_with_callback(_image_detector(tuple(p["shape"])), p, tmp, warm=3)
    extra: dict[str, Any] = {"items": p["n"]}
    if inside is not None:
        extra["caller_us_per_event"] = 1e6 * inside["event"] / p["n"]
    return _result(t, **extra)


# -- 3. frames -----------------------------------------------------------------------------


def frames_callback(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from resonance_callback import RunWriterCallback

    from .data import frame_docs, frame_pool

    pool = frame_pool(tuple(p["shape"]))
    with RunWriterCallback(tmp / "warm" / "bt.db", codec=p["codec"]) as warm:
        for name, doc in frame_docs(pool, 2):
            warm(name, doc)
    docs = list(frame_docs(pool, p["n"]))
    on_caller = 0.0
    with Timer() as t:
        cb = RunWriterCallback(tmp / "bt.db", codec=p["codec"])
        for name, doc in docs:
            t0 = time.perf_counter()
            cb(name, doc)
            if name == "event":
                on_caller += time.perf_counter() - t0
        cb.close()
    nbytes = p["n"] * pool[0].nbytes
    return _result(t, items=p["n"], bytes=nbytes, stored_bytes=chunk_bytes(tmp / "bt.zarr"),
                   caller_us_per_event=1e6 * on_caller / p["n"])


def frames_bulk(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """One assignment of all frames to a Zarr array with the same chunks, codec and config."""
    import zarr

    from resonance_callback.store._codecs import ARRAY_CONFIG, make_codec

    from .data import frame_pool

    pool = frame_pool(tuple(p["shape"]))
    stack = np.stack([pool[i % len(pool)] for i in range(p["n"])])
    warm = zarr.open_group(str(tmp / "warm.zarr"), mode="w").create_array(
        "img", shape=(2, *stack.shape[1:]), chunks=(1, *stack.shape[1:]), dtype=stack.dtype,
        compressors=make_codec(p["codec"]), fill_value=0, config=ARRAY_CONFIG)
    warm[:] = stack[:2]
    with Timer() as t:
        group = zarr.open_group(str(tmp / "bulk.zarr"), mode="w")
        array = group.create_array("img", shape=stack.shape, chunks=(1, *stack.shape[1:]),
                                   dtype=stack.dtype, compressors=make_codec(p["codec"]),
                                   fill_value=0, config=ARRAY_CONFIG)
        array[:] = stack
    return _result(t, items=p["n"], bytes=stack.nbytes,
                   stored_bytes=chunk_bytes(tmp / "bulk.zarr"))


def frames_raw(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The disk bound: the same bytes, uncompressed, written to one file."""
    from .data import frame_pool

    pool = frame_pool(tuple(p["shape"]))
    n = p["n"]
    with Timer() as t:
        with open(tmp / "frames.raw", "wb") as f:
            for i in range(n):
                f.write(memoryview(pool[i % len(pool)]))
    return _result(t, items=n, bytes=n * pool[0].nbytes, stored_bytes=n * pool[0].nbytes)


# -- 4. replay --------------------------------------------------------------------------------


def replay_callback(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Replay a saved suitcase-jsonl file into a fresh beamtime (``resonance_callback.replay``)."""
    from resonance_callback import replay

    _warm_callback(tmp)
    with Timer() as t:
        summary = replay(Path(p["path"]), tmp / "bt.db")
    if summary.documents != p["docs"]:
        raise RuntimeError(f"replayed {summary.documents} documents, expected {p['docs']}")
    return _result(t, items=p["docs"], how="resonance_callback.replay(path, db)")


def replay_parse(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Reading and parsing the same file only: the floor for any replay."""
    with Timer() as t:
        with open(p["path"], encoding="utf-8") as f:
            for line in f:
                json.loads(line)
    return _result(t, items=p["docs"])


# -- 5. reader ---------------------------------------------------------------------------------


def _open_beamtime() -> Any:
    try:
        from resonance_callback.read import open_beamtime
    except ImportError:
        return None
    return open_beamtime


def reader_table(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """A 100k-event stream to a pandas DataFrame."""
    import pandas as pd

    from resonance_callback import jsoncodec

    db = Path(p["db"])
    open_beamtime = _open_beamtime()
    how = "pandas.read_sql + jsoncodec.loads"
    with Timer() as t:
        frame = None
        if open_beamtime is not None:
            try:
                beamtime = open_beamtime(db)
                run = beamtime[p["run_uid"]]
                frame = run.table()
                how = "resonance_callback.read: open_beamtime(db)[uid].table()"
            except Exception:  # an API other than the one guessed here: use SQL
                frame = None
        if frame is None:
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
            rows = pd.read_sql(
                "SELECT e.seq_num, e.time, e.data FROM events e JOIN streams s "
                "ON e.stream_uid = s.uid WHERE s.run_uid = ? AND s.name = 'primary' "
                "ORDER BY e.seq_num", conn, params=(p["run_uid"],))
            conn.close()
            values = pd.DataFrame.from_records([jsoncodec.loads(d) for d in rows["data"]])
            frame = pd.concat([rows[["seq_num", "time"]], values], axis=1)
    assert len(frame) == p["n"], (len(frame), p["n"])
    return _result(t, items=p["n"], how=how)


def reader_frame(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """One frame out of a 1,000-frame field: open the store, read frame ``index``."""
    import zarr

    with Timer() as t:
        group = zarr.open_group(p["zarr"], mode="r")
        frame = np.asarray(group[p["path"]][p["index"]])
    assert frame.shape == tuple(p["shape"])
    return _result(t, items=1)


# -- 6. memory -----------------------------------------------------------------------------------


def memory_callback(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Scalar ingest with documents made on the fly (no list), so RSS is the library's own."""
    from resonance_callback import RunWriterCallback

    from .data import scalar_docs

    with Timer() as t:
        cb = RunWriterCallback(tmp / "bt.db")
        for name, doc in scalar_docs(p["n"]):
            cb(name, doc)
        cb.close()
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
    from .replay_cases import replay_loop
    from .scale import scale_case

    VARIANTS.update(replay_loop=replay_loop, scale=scale_case)
    variant, params = sys.argv[1], json.loads(sys.argv[2])
    with tempfile.TemporaryDirectory(prefix=f"rcbench-{variant}-",
                                     dir=params.get("tmpdir")) as tmp:
        (Path(tmp) / "warm").mkdir()  # for the untimed warm-up run
        result = VARIANTS[variant](params, Path(tmp))
    result["rss_peak_mb"] = rss_peak_mb()
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
