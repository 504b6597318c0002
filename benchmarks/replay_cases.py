"""Replay cases: a saved stream into the callback against a hand-written parse-and-insert loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .hand_loop import insert_documents, schema_sql
from .measure import WARM_UP, Timer, _result


def warm_stream(tmp: Path) -> Path:
    """A saved stream of ``WARM_UP`` events (suitcase-jsonl) for a variant's untimed run."""
    from .data import scalar_docs

    path = tmp / "warm" / "saved.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for name, doc in scalar_docs(WARM_UP):
            f.write(json.dumps([name, doc]) + "\n")
    return path


def replay_loop(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The hand-written baseline: json.loads per line, events inserted 1,000 per transaction.

    Frames stay inside the events' JSON (the loop does not decode arrays), the
    schema is the beamtime's first migration, WAL and ``synchronous=NORMAL``. Like
    the callback, it first runs untimed on a saved stream of ``WARM_UP`` events.
    """
    sql = schema_sql()
    loads = json.loads
    with open(warm_stream(tmp), encoding="utf-8") as f:  # untimed, as every variant
        insert_documents((loads(line) for line in f), tmp / "warm" / "loop.db", sql)
    with Timer() as t, open(p["path"], encoding="utf-8") as f:
        count = insert_documents((loads(line) for line in f), tmp / "loop.db", sql)
    if count != p["docs"]:
        raise RuntimeError(f"parsed {count} documents, expected {p['docs']}")
    return _result(t, items=p["docs"])
