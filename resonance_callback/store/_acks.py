"""Problems ``check`` found that a person acknowledged (``check --ack``; schema version 7).

Each row of ``acknowledged_problems`` names one problem by its kind and a key that
stays the same while the problem does (see ``sql/0007_acknowledged_problems.sql``). A
rejected document is acknowledged by its row id (kind :data:`REJECTED_DOCUMENT`): there
may be very many, so they are counted and recorded in SQL, never listed in Python.
A beamtime of schema 6 or older (opened read-only, not upgraded) has no table: nothing
in it is acknowledged; recording upgrades it, as any writer's open does.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from resonance_callback._sqlite import connect, transaction
from resonance_callback.errors import StorageError
from resonance_callback.store._reader import BeamtimeReader
from resonance_callback.store._repair import _require_beamtime

__all__ = ["REJECTED_DOCUMENT", "acknowledged_problems", "acknowledged_rejected",
           "last_rejected_id", "record_acknowledgements"]

#: The kind of an acknowledged rejected document; its key is the row's ``id``.
REJECTED_DOCUMENT = "rejected_document"


def _has_table(reader: BeamtimeReader) -> bool:
    return bool(reader.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                            "AND name = 'acknowledged_problems'"))


def acknowledged_problems(reader: BeamtimeReader
                          ) -> dict[tuple[str, str], tuple[float, str | None]]:
    """Return ``{(kind, key): (time, note)}`` of the acknowledged problems but rejected ones."""
    if not _has_table(reader):
        return {}
    return {(kind, key): (when, note) for kind, key, when, note in reader.rows(
        "SELECT kind, key, time, note FROM acknowledged_problems WHERE kind != ?",
        (REJECTED_DOCUMENT,))}


def acknowledged_rejected(reader: BeamtimeReader) -> dict[str, int]:
    """Return the acknowledged rejected documents still stored, counted by document name."""
    if not _has_table(reader):
        return {}
    return {name: n for name, n in reader.rows(
        "SELECT r.name, count(*) FROM rejected_documents r JOIN acknowledged_problems a "
        "ON a.kind = ? AND a.key = CAST(r.id AS TEXT) GROUP BY r.name", (REJECTED_DOCUMENT,))}


def last_rejected_id(reader: BeamtimeReader) -> int | None:
    """Return the ``id`` of the newest rejected document (ids only grow), or None."""
    last = reader.rows("SELECT max(id) FROM rejected_documents")[0][0]
    return None if last is None else int(last)


def record_acknowledgements(db_path: Path | str, problems: Iterable[tuple[str, str]], *,
                            rejected_up_to: int | None, note: str | None) -> int:
    """Record problems as acknowledged; return how many were not already.

    Parameters
    ----------
    db_path : Path or str
        The beamtime (upgraded to schema version 7 if older).
    problems : iterable of (str, str)
        ``(kind, key)`` of each problem seen.
    rejected_up_to : int or None
        Acknowledge every rejected document with an ``id`` up to this one (those
        the check saw; one rejected later has a larger id), or none.
    note : str or None
        Why, kept with each row.

    Raises
    ------
    OSError
        If the file is not there or cannot be written (:class:`StorageError`).
    sqlite3.DatabaseError
        If it is not a beamtime database (:class:`NotABeamtimeError`).
    """
    db_path = Path(db_path)
    _require_beamtime(db_path)
    now = time.time()
    rows = [(kind, key, now, note) for kind, key in problems]
    conn = connect(db_path, "beamtime")
    try:
        with transaction(conn):
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO acknowledged_problems (kind, key, time, "
                             "note) VALUES (?, ?, ?, ?)", rows)
            if rejected_up_to is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO acknowledged_problems (kind, key, time, note) "
                    "SELECT ?, CAST(id AS TEXT), ?, ? FROM rejected_documents WHERE id <= ?",
                    (REJECTED_DOCUMENT, now, note, rejected_up_to))
            return conn.total_changes - before
    except sqlite3.Error as exc:
        raise StorageError(f"cannot record acknowledged problems in {db_path}: {exc}") from exc
    finally:
        conn.close()
