"""The master index: one SQLite database listing every run across beamtimes and researchers.

The index is a cache over the beamtime databases, which stay the source of
truth; :func:`resonance_callback.index.reindex` rebuilds it from them.
Its schema (``index/sql/0001_initial.sql``) has four tables:

``researchers(id, name, root_path, email, orcid, affiliation)``
    Identity is ``(name, root_path)``; ``root_path`` is absolute.
``beamtimes(id, researcher_id, label, db_path, time_start)``
    Identity is the database path. ``db_path`` is stored *relative to the
    researcher's root*, so a researcher's tree can be moved or mounted
    elsewhere: :meth:`IndexWriter.move_researcher` rewrites one row and every
    beamtime resolves under the new root.
``runs(uid, beamtime_id, plan_name, sample_name, scan_id, time_start, time_stop,``
``exit_status, num_events, metadata)``
    One summary per run. ``metadata`` is the whole start document as JSON,
    searched with SQLite's JSON functions (``where={"KEY": VALUE}``).
``run_tags(run_uid, tag)``
    The run's tags, one row each.

Several processes may write one index at once (two RunEngines and a
``reindex``). Every write is one short ``BEGIN IMMEDIATE`` transaction made of
upserts (``INSERT ... ON CONFLICT DO UPDATE``), so a retried or repeated call
neither loses nor duplicates rows. The connection waits for another writer's
lock (WAL mode, a busy timeout), and a write that still meets SQLITE_BUSY is
retried a bounded number of times before a :class:`StorageError` is raised.

The same index can live in PostgreSQL (a ``postgresql://`` URL for the path,
:mod:`resonance_callback.index._pg`): the same tables and upserts, for writers on
many hosts; a write that loses its connection reconnects and is retried.
"""

from __future__ import annotations

from resonance_callback.index._beamtimes import _Beamtimes
from resonance_callback.index._researchers import _Researchers
from resonance_callback.index._runs import _Runs

__all__ = ["IndexWriter"]


class IndexWriter(_Researchers, _Beamtimes, _Runs):
    """Writer for the master index database aggregating cross-beamtime metadata.

    Parameters
    ----------
    index_db_path : Path or str
        Path to the master index SQLite database file, or a ``postgresql://``
        URL of a PostgreSQL database (the ``postgres`` extra). Created, with
        its schema, on first use.
    busy_timeout : float or None, optional
        Seconds one attempt waits for another process's write lock; default
        the library's busy timeout (60 s). On PostgreSQL also how long a
        lost connection is retried, per attempt.
    attempts : int, optional
        How many times a write meeting SQLITE_BUSY is tried before giving up.

    Notes
    -----
    The connection opens on first use (or :meth:`ensure_schema`) and closes
    with :meth:`close` or at the end of a ``with`` block; a later call opens it
    again. Each method is its own transaction. Use one writer per thread.
    """
