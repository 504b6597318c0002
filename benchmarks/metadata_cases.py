"""Start metadata: storing a start with an N-element list, and upgrading a file holding one.

``metadata_store``: a beamtime is opened by a :class:`RunWriter` (untimed), then one
start document whose ``positions`` is a list of N floats (a ``list_scan``'s) is stored
(timed: ``open_run`` and its commit, which files the list in ``run_metadata``).
``view="schema3"`` first puts back the view beamtime schema 3 shipped (a self-join of
``json_tree``, quadratic), to measure the code before schema 5 in the same process.

``metadata_upgrade``: a beamtime of schema 2 (made by the first two migrations, as
releases before schema 3 wrote it) holding one such run is opened by a writer (timed:
the in-place upgrade to the latest schema, which fills ``run_metadata``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .measure import Timer, _result

#: The view of beamtime schema 3 (and index schema 2) before schema 5: the "before".
SCHEMA3_VIEW = """
DROP VIEW run_metadata_leaves;
CREATE VIEW run_metadata_leaves AS
SELECT DISTINCT r.uid AS run_uid,
       CASE WHEN p.type = 'array' THEN p.key ELSE t.key END AS key,
       t.atom AS value
FROM runs AS r,
     json_tree(CASE WHEN json_valid(r.metadata) THEN r.metadata ELSE '{}' END) AS t
JOIN json_tree(CASE WHEN json_valid(r.metadata) THEN r.metadata ELSE '{}' END) AS p
     ON p.id = t.parent
WHERE t.type NOT IN ('object', 'array')
  AND typeof(CASE WHEN p.type = 'array' THEN p.key ELSE t.key END) = 'text';
"""


def start_metadata(n: int) -> dict[str, Any]:
    """A list_scan's start metadata with ``n`` positions."""
    return {"plan_name": "list_scan", "scan_id": 1, "operator": "ana",
            "positions": [i * 1e-3 + 0.5 for i in range(n)], "motors": ["motor"],
            "sample": {"name": "Si", "formula": "Si"}}


def _filed(db: Path, uid: str) -> int:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM run_metadata WHERE run_uid = ? "
                                "AND key = 'positions'", (uid,)).fetchone()[0])
    finally:
        conn.close()


def metadata_store(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from resonance_callback import _sqlite as schema
    from resonance_callback.store import RunWriter

    def store(db: Path, n: int, timed: bool) -> tuple[str, Timer | None]:
        if p.get("view") == "schema3":
            conn = schema.connect(db)
            conn.executescript(SCHEMA3_VIEW)
            conn.close()
        metadata = start_metadata(n)
        with RunWriter(db, None) as writer:
            if not timed:
                return writer.open_run("list_scan", metadata=metadata), None
            with Timer() as t:
                uid = writer.open_run("list_scan", metadata=metadata)
        return uid, t

    store(tmp / "warm" / "bt.db", 10, timed=False)
    uid, t = store(tmp / "bt.db", p["n"], timed=True)
    assert t is not None
    filed = _filed(tmp / "bt.db", uid)
    assert filed == p["n"], (filed, p["n"])
    return _result(t, items=p["n"])


def _version_2_beamtime(db: Path, n: int) -> str:
    import sqlite3

    from resonance_callback import _sql_files as sql_text
    from resonance_callback import _sqlite as schema
    from resonance_callback import jsoncodec

    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for number, _name, sql in sql_text._migrations("beamtime")[:2]:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA application_id = "
                               f"{schema.APPLICATION_IDS['beamtime']};\n"
                               f"PRAGMA user_version = {number};\nCOMMIT;")
        uid = f"run-{n}"
        conn.execute("INSERT INTO runs (uid, plan_name, scan_id, time_start, metadata) "
                     "VALUES (?, 'list_scan', 1, 1.7e9, ?)",
                     (uid, jsoncodec.dumps(start_metadata(n))))
    finally:
        conn.close()
    return uid


def metadata_upgrade(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from resonance_callback import _sqlite as schema

    _version_2_beamtime(tmp / "warm" / "v2.db", 10)
    schema.connect(tmp / "warm" / "v2.db").close()
    db = tmp / "v2.db"
    uid = _version_2_beamtime(db, p["n"])
    with Timer() as t:
        schema.connect(db).close()
    filed = _filed(db, uid)
    assert filed == p["n"], (filed, p["n"])
    return _result(t, items=p["n"])
