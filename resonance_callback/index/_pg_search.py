"""Search the master index on PostgreSQL: PostgreSQL narrows, the one query engine decides.

A filter means one thing on both engines because one engine decides it: the
store's run filter (:class:`~resonance_callback.store.RunFilter`), whose SQL is
SQLite's. On PostgreSQL :func:`pg_rows` asks the server for the candidates,
through its indexes: the plain columns exactly (sample, plan, researcher and tag
without wildcards, exit status, time range, ``scan_id``), a pattern by its
literal start, a ``where`` pair through ``run_metadata`` (the start documents'
leaves, by key name). When nothing else is asked the server's rows are the
answer. Otherwise (a ``where`` pair, a wildcard, a Tiled query) the candidates
are loaded into an in-memory index of the same schema, where the filter's own
SQL decides: what matches there is what matches in an SQLite index.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import sqlite3
from typing import Any

from resonance_callback import _sqlite as schema
from resonance_callback.errors import StorageError
from resonance_callback.index import _pg
from resonance_callback.index._dialect import (
    TAGS_JSON,
    display,
    glob_prefix,
    leaf_key,
    leaf_token,
)
from resonance_callback.index._select import INDEX_COLUMNS, RUN_SELECT
from resonance_callback.store import RunFilter, newest_first

__all__ = ["pg_rows"]

#: The index's columns on PostgreSQL (``seq`` orders as SQLite's rowid does).
PG_COLUMNS = dataclasses.replace(INDEX_COLUMNS, tiebreak="r.seq", metadata_index=None, stop=None)

#: :data:`RUN_SELECT` on PostgreSQL.
PG_RUN_SELECT = RUN_SELECT.replace(TAGS_JSON["sqlite"], TAGS_JSON["postgres"])
assert PG_RUN_SELECT != RUN_SELECT

#: The columns the candidates are decided on: no ``run_metadata`` to narrow by.
_DECIDE_COLUMNS = dataclasses.replace(INDEX_COLUMNS, metadata_index=None)

_WILDCARDS = frozenset("*?[")
_PATTERNED = {"sample": "r.sample_name", "plan": "r.plan_name", "researcher": "res.name"}


def _leaf_values(value: Any) -> list[Any] | None:
    """The leaves a scalar ``where`` value matches (the store's rule), or None if not a scalar."""
    if value is None or isinstance(value, bool | float):
        return [value] if not isinstance(value, float) or math.isfinite(value) else None
    if isinstance(value, int):
        return [value] if abs(value) < 2**63 else None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        more = _leaf_values(parsed) if parsed is None or isinstance(
            parsed, bool | int | float) else None
        return [value, *(more or [])]
    return None


def _narrowing(filters: RunFilter) -> tuple[str, list[Any], bool]:
    """The server's WHERE clause (``?`` placeholders), its parameters, and whether to decide."""
    plain: dict[str, Any] = {name: getattr(filters, name)
                             for name in ("exit_status", "since", "until", "scan_id")}
    conditions: list[str] = []
    params: list[Any] = []
    decide = bool(filters.where) or bool(filters.queries)
    for name, column in (*_PATTERNED.items(), ("tag", "t.tag")):
        value = getattr(filters, name)
        if value is None:
            continue
        value = str(value)
        if not _WILDCARDS & set(value):
            plain[name] = value
            continue
        decide = True
        prefix = glob_prefix(value)
        if not prefix:
            continue
        test = f"starts_with({column}, ?)"
        if name == "tag":
            test = f"EXISTS (SELECT 1 FROM run_tags t WHERE t.run_uid = r.uid AND {test})"
        conditions.append(test)
        params.append(prefix)
    clause, args = RunFilter(**plain).clause(PG_COLUMNS)
    if clause:
        conditions.insert(0, clause.removeprefix(" WHERE "))
        params[:0] = args
    for key, value in (filters.where or {}).items():
        values = _leaf_values(value)
        if values is None:
            continue
        tokens = [leaf_token(v) for v in values]
        known = [t for t in tokens if t is not None]
        tests = [f"m.value IN ({', '.join('?' * len(known))})"] if known else []
        if len(known) < len(tokens):
            tests.append("m.value IS NULL")
        conditions.append("r.uid IN (SELECT m.run_uid FROM run_metadata m "
                          f"WHERE m.key = ? AND ({' OR '.join(tests)}))")
        params += [leaf_key(str(key).split(".")[-1]), *known]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return where, params, decide


@functools.cache
def _empty_index() -> bytes:
    """An empty in-memory index of the latest schema, serialized (migrated once per process)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        schema.migrate(conn, "index")
        # The candidates' leaves are not filed: their start documents are tested directly
        # (_DECIDE_COLUMNS), which is what the filter's SQL does after narrowing.
        for trigger in ("run_metadata_insert", "run_metadata_update", "run_metadata_delete"):
            conn.execute(f"DROP TRIGGER {trigger}")
        return conn.serialize()
    finally:
        conn.close()


def _decide(rows: list[tuple[Any, ...]], filters: RunFilter) -> set[str]:
    """The uids among ``rows`` (of :data:`RUN_SELECT`) that ``filters`` keeps, as SQLite says."""
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    try:
        conn.deserialize(_empty_index())
        researchers: dict[tuple[str, str], int] = {}
        beamtimes: dict[tuple[int, str], int] = {}
        conn.execute("BEGIN")
        for (uid, plan, sample, scan_id, t0, t1, status, name, label, root, db_path, tags,
             num_events, metadata) in rows:
            rid = researchers.setdefault((name, root), len(researchers) + 1)
            conn.execute("INSERT OR IGNORE INTO researchers (id, name, root_path) "
                         "VALUES (?, ?, ?)", (rid, name, root))
            bid = beamtimes.setdefault((rid, db_path), len(beamtimes) + 1)
            conn.execute("INSERT OR IGNORE INTO beamtimes (id, researcher_id, label, db_path) "
                         "VALUES (?, ?, ?, ?)", (bid, rid, label, db_path))
            conn.execute(
                "INSERT INTO runs (uid, beamtime_id, plan_name, sample_name, scan_id, time_start,"
                " time_stop, exit_status, num_events, metadata) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (uid, bid, plan, sample, scan_id, t0, t1, status, num_events, metadata))
            conn.executemany("INSERT OR IGNORE INTO run_tags (run_uid, tag) VALUES (?, ?)",
                             [(uid, tag) for tag in json.loads(tags)])
        conn.execute("COMMIT")
        clause, args = filters.clause(_DECIDE_COLUMNS)
        return {row[0] for row in conn.execute(
            "SELECT r.uid FROM runs r JOIN beamtimes b ON b.id = r.beamtime_id "
            f"JOIN researchers res ON res.id = b.researcher_id{clause}", args)}
    finally:
        conn.close()


def pg_rows(url: str, filters: RunFilter) -> list[tuple[Any, ...]]:
    """The rows of :data:`RUN_SELECT` that ``filters`` keeps in the index at ``url``, newest first.

    Raises
    ------
    StorageError
        If the server cannot be reached.
    NotABeamtimeError
        If the database holds no index.
    """
    where, params, decide = _narrowing(filters)
    rows: list[tuple[Any, ...]] = []
    for attempt in (1, 2):
        try:
            with _pg.reading(url) as conn:
                rows = conn.execute(
                    f"{PG_RUN_SELECT}{where} {newest_first(PG_COLUMNS)}", params).fetchall()
            break
        except Exception as exc:
            if not _pg.is_driver_error(exc):
                raise
            if attempt == 1 and _pg.is_retryable(exc):
                continue  # a kept connection the server has dropped (restarted): a new one
            raise StorageError(f"cannot search index {display(url)}: {_pg.one_line(exc)}"
                               ) from exc
    if not decide or not rows:
        return rows
    kept = _decide(rows, filters)
    return [row for row in rows if row[0] in kept]
