"""Variants of the replay, reader and memory cases (see :mod:`benchmarks.cases`)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from .measure import Timer, _result

# -- 4. replay --------------------------------------------------------------------------------


def replay_callback(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Replay a saved suitcase-jsonl file into a fresh beamtime (``resonance_callback.replay``).

    With ``p["again"]``, into a beamtime that holds it already (replayed once, untimed).
    Like the loop, it first replays a saved stream of ``WARM_UP`` events, untimed.
    """
    from resonance_callback import replay

    from .replay_cases import warm_stream

    replay(warm_stream(tmp), tmp / "warm" / "bt.db")
    if p.get("again"):  # the file is stored already: every document is skipped
        replay(Path(p["path"]), tmp / "bt.db")
    with Timer() as t:
        summary = replay(Path(p["path"]), tmp / "bt.db")
    if p.get("again") and summary.already_stored != p["docs"]:
        raise RuntimeError(f"skipped {summary.already_stored} documents, expected {p['docs']}")
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
