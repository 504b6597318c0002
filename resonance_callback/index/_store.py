"""The SQL of the master index: one function per statement group, each taking a connection.

Each runs on either engine (:mod:`._dialect`: SQLite, or PostgreSQL through
:class:`~resonance_callback.index._pg.PgConnection`). These functions neither
open transactions nor check arguments;
:class:`resonance_callback.index.IndexWriter` calls them inside its retried
write transactions. Every insert is an upsert, so a repeated call (a retry,
two processes indexing the same run, a ``reindex``) leaves one row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from resonance_callback import jsoncodec
from resonance_callback.index._dialect import LEAST, IndexConn, dialect_of, leaf_rows
from resonance_callback.index._model import BeamtimeEntry

__all__ = [
    "beamtime_owner",
    "delete_beamtime",
    "delete_runs_not_in",
    "list_beamtimes",
    "merge_researchers",
    "researcher",
    "researchers_named",
    "set_root",
    "update_run_stop",
    "upsert_beamtime",
    "upsert_researcher",
    "upsert_run_start",
]


def upsert_researcher(
    conn: IndexConn,
    name: str,
    root: str,
    email: str | None,
    orcid: str | None,
    affiliation: str | None,
) -> int:
    """Insert the researcher, or update the details given; return its id."""
    return int(conn.execute(
        """INSERT INTO researchers (name, root_path, email, orcid, affiliation)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (name, root_path) DO UPDATE SET
               email = COALESCE(excluded.email, researchers.email),
               orcid = COALESCE(excluded.orcid, researchers.orcid),
               affiliation = COALESCE(excluded.affiliation, researchers.affiliation)
           RETURNING id""",
        (name, root, email, orcid, affiliation),
    ).fetchall()[0][0])


def researcher(conn: IndexConn, researcher_id: int) -> tuple[str, str] | None:
    """Return the researcher's (name, root_path), or None."""
    row: tuple[str, str] | None = conn.execute(
        "SELECT name, root_path FROM researchers WHERE id = ?", (researcher_id,)
    ).fetchone()
    return row


def researchers_named(
    conn: IndexConn, name: str, root: str | None = None
) -> list[tuple[int, str]]:
    """Return (id, root_path) of each researcher called ``name`` (with ``root``, if given)."""
    if root is None:
        return conn.execute(
            "SELECT id, root_path FROM researchers WHERE name = ? ORDER BY id", (name,)
        ).fetchall()
    return conn.execute(
        "SELECT id, root_path FROM researchers WHERE name = ? AND root_path = ?", (name, root)
    ).fetchall()


def set_root(conn: IndexConn, researcher_id: int, root: str) -> None:
    """Point the researcher at ``root``."""
    conn.execute("UPDATE researchers SET root_path = ? WHERE id = ?", (root, researcher_id))


def merge_researchers(conn: IndexConn, old: int, keep: int) -> None:
    """Give researcher ``old``'s beamtimes and runs to ``keep``, then delete ``old``.

    A beamtime both registered (same relative path) keeps ``keep``'s row and
    receives the other's runs.
    """
    args = {"old": old, "keep": keep}
    conn.execute(
        """UPDATE runs SET beamtime_id = (
               SELECT k.id FROM beamtimes k JOIN beamtimes o ON o.db_path = k.db_path
               WHERE k.researcher_id = :keep AND o.id = runs.beamtime_id)
           WHERE beamtime_id IN (
               SELECT o.id FROM beamtimes o JOIN beamtimes k ON k.db_path = o.db_path
               WHERE o.researcher_id = :old AND k.researcher_id = :keep)""",
        args,
    )
    conn.execute(
        """DELETE FROM beamtimes WHERE researcher_id = :old AND db_path IN (
               SELECT db_path FROM beamtimes WHERE researcher_id = :keep)""",
        args,
    )
    conn.execute("UPDATE beamtimes SET researcher_id = :keep WHERE researcher_id = :old", args)
    conn.execute(
        """UPDATE researchers SET
               email = COALESCE(email, (SELECT email FROM researchers WHERE id = :old)),
               orcid = COALESCE(orcid, (SELECT orcid FROM researchers WHERE id = :old)),
               affiliation = COALESCE(affiliation,
                                      (SELECT affiliation FROM researchers WHERE id = :old))
           WHERE id = :keep""",
        args,
    )
    conn.execute("DELETE FROM researchers WHERE id = :old", args)


def upsert_beamtime(
    conn: IndexConn,
    researcher_id: int,
    label: str,
    relative_path: str,
    time_start: float | None,
) -> int:
    """Insert the beamtime, or relabel it and keep the earliest start; return its id."""
    least = LEAST[dialect_of(conn)]
    return int(conn.execute(
        f"""INSERT INTO beamtimes (researcher_id, label, db_path, time_start)
           VALUES (?, ?, ?, ?)
           ON CONFLICT (researcher_id, db_path) DO UPDATE SET
               label = excluded.label,
               time_start = COALESCE({least}(beamtimes.time_start, excluded.time_start),
                                     beamtimes.time_start, excluded.time_start)
           RETURNING id""",
        (researcher_id, label, relative_path, time_start),
    ).fetchall()[0][0])


def beamtime_owner(conn: IndexConn, beamtime_id: int) -> int | None:
    """Return the id of the beamtime's researcher, or None if it is not registered."""
    row = conn.execute(
        "SELECT researcher_id FROM beamtimes WHERE id = ?", (beamtime_id,)
    ).fetchone()
    return None if row is None else row[0]


def list_beamtimes(conn: IndexConn) -> list[BeamtimeEntry]:
    """Return every beamtime with its researcher, in registration order."""
    rows = conn.execute(
        """SELECT b.id, b.label, r.name, r.root_path, b.db_path
           FROM beamtimes b JOIN researchers r ON r.id = b.researcher_id ORDER BY b.id"""
    ).fetchall()
    return [BeamtimeEntry(*row) for row in rows]


def delete_beamtime(conn: IndexConn, beamtime_id: int) -> int:
    """Delete the beamtime and its runs; return how many runs went."""
    removed = conn.execute("DELETE FROM runs WHERE beamtime_id = ?", (beamtime_id,)).rowcount
    conn.execute("DELETE FROM beamtimes WHERE id = ?", (beamtime_id,))
    return removed


def upsert_run_start(
    conn: IndexConn,
    uid: str,
    beamtime_id: int,
    plan_name: str | None,
    *,
    sample_name: str | None,
    scan_id: int | None,
    time_start: float | None,
    metadata: str | None,
    tags: Iterable[str] | None,
) -> None:
    """Insert the run, or update it: a None keeps the stored value; tags are replaced."""
    conn.execute(
        """INSERT INTO runs (uid, beamtime_id, plan_name, sample_name, scan_id, time_start,
                             metadata)
           VALUES (:uid, :beamtime_id, :plan_name, :sample_name, :scan_id, :time_start,
                   COALESCE(:metadata, '{}'))
           ON CONFLICT (uid) DO UPDATE SET
               beamtime_id = excluded.beamtime_id,
               plan_name = excluded.plan_name,
               sample_name = COALESCE(:sample_name, runs.sample_name),
               scan_id = COALESCE(:scan_id, runs.scan_id),
               time_start = COALESCE(:time_start, runs.time_start),
               metadata = COALESCE(:metadata, runs.metadata)""",
        {"uid": uid, "beamtime_id": beamtime_id, "plan_name": plan_name,
         "sample_name": sample_name, "scan_id": scan_id, "time_start": time_start,
         "metadata": metadata},
    )
    if metadata is not None and dialect_of(conn) == "postgres":
        # SQLite's triggers file the start document's leaves; here the writer does
        conn.execute("DELETE FROM run_metadata WHERE run_uid = ?", (uid,))
        leaves = leaf_rows(uid, metadata)
        if leaves:
            conn.executemany(
                "INSERT INTO run_metadata (run_uid, key, value) VALUES (?, ?, ?)", leaves)
    if tags is not None:
        conn.execute("DELETE FROM run_tags WHERE run_uid = ?", (uid,))
        conn.executemany(
            "INSERT INTO run_tags (run_uid, tag) VALUES (?, ?)",
            [(uid, tag) for tag in sorted(set(tags))],
        )


def update_run_stop(
    conn: IndexConn,
    uid: str,
    time_stop: float,
    exit_status: str | None,
    num_events: Mapping[str, int],
) -> bool:
    """Record the run's end; return False if the run is not in the index."""
    counts = {str(name): int(n) for name, n in num_events.items()}
    return bool(conn.execute(
        "UPDATE runs SET time_stop = ?, exit_status = ?, num_events = ? WHERE uid = ?",
        (time_stop, exit_status, jsoncodec.dumps(counts), uid),
    ).rowcount)


def delete_runs_not_in(conn: IndexConn, beamtime_id: int, uids: list[str]) -> int:
    """Delete the beamtime's runs whose uid is not in ``uids``; return how many."""
    if dialect_of(conn) == "postgres":
        return conn.execute(
            "DELETE FROM runs WHERE beamtime_id = ? AND NOT (uid = ANY(?))", (beamtime_id, uids)
        ).rowcount
    return conn.execute(
        """DELETE FROM runs WHERE beamtime_id = ?
           AND uid NOT IN (SELECT value FROM json_each(?))""",
        (beamtime_id, jsoncodec.dumps(uids)),
    ).rowcount
