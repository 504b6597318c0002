"""Replay cases: a saved stream into the callback against a hand-written parse-and-insert loop."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from .measure import Timer, _result

_INSERT = ("INSERT INTO events (uid, stream_uid, seq_num, time, data, timestamps, filled, "
           "derived) VALUES (?, ?, ?, ?, ?, ?, ?, 0)")


def _loop(path: Path, db: Path, schema_sql: str) -> int:
    """Parse ``path`` line by line and insert its events in transactions of 1,000 rows."""
    loads, dumps = json.loads, json.dumps
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(schema_sql)
    rows: list[tuple[Any, ...]] = []
    count = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, doc = loads(line)
            count += 1
            if name == "event":
                rows.append((doc["uid"], doc["descriptor"], doc["seq_num"], doc["time"],
                             dumps(doc["data"]), dumps(doc["timestamps"]), None))
                if len(rows) == 1000:
                    conn.execute("BEGIN")
                    conn.executemany(_INSERT, rows)
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
                    conn.executemany(_INSERT, rows)
                    rows = []
                conn.execute("UPDATE runs SET time_stop = ?, exit_status = ?, stop_document = ?"
                             " WHERE uid = ?",
                             (doc["time"], doc.get("exit_status"), dumps(doc), doc["run_start"]))
                conn.execute("COMMIT")
    conn.close()
    return count


def replay_loop(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The hand-written baseline: json.loads per line, events inserted 1,000 per transaction.

    Frames stay inside the events' JSON (the loop does not decode arrays), the
    schema is the beamtime's first migration, WAL and ``synchronous=NORMAL``.
    """
    import resonance_callback

    schema_sql = (Path(resonance_callback.__file__).parent / "store" / "sql"
                  / "0001_initial.sql").read_text()
    with Timer() as t:
        count = _loop(Path(p["path"]), tmp / "loop.db", schema_sql)
    if count != p["docs"]:
        raise RuntimeError(f"parsed {count} documents, expected {p['docs']}")
    return _result(t, items=p["docs"])
