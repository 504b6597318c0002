"""The hand-written baseline the ingest and replay cases measure against.

The beamtime's first-migration tables, ``json.dumps`` of data and timestamps, events
inserted with ``executemany`` 1,000 per transaction, WAL and ``synchronous=NORMAL``:
what a careful user would write by hand with no library.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_INSERT = ("INSERT INTO events (uid, stream_uid, seq_num, time, data, timestamps, filled, "
           "derived) VALUES (?, ?, ?, ?, ?, ?, ?, 0)")


def schema_sql() -> str:
    """The beamtime's first migration (the tables the loop fills)."""
    import resonance_callback

    return (Path(resonance_callback.__file__).parent / "store" / "sql"
            / "0001_initial.sql").read_text()


def insert_documents(docs: Iterable[tuple[str, dict[str, Any]]], db: Path, sql: str) -> int:
    """Insert ``docs`` into a new database at ``db``; return how many documents were seen."""
    dumps = json.dumps
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(sql)
    rows: list[tuple[Any, ...]] = []
    count = 0
    for name, doc in docs:
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
