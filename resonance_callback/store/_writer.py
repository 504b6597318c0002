"""``RunWriter``: method calls in, rows in SQLite and frames in Zarr out.

The writer never sees ``(name, doc)`` pairs; :mod:`resonance_callback.callback`
turns documents into calls on it. See the spec
(``shared/spec/run-writer-api.txt``) and the README's "Differences from the
spec" for the keyword-only extensions.

Durability: rows go into one open transaction that is committed every
``commit_every`` events or ``commit_interval`` seconds (checked at each call;
an idle caller calls :meth:`RunWriter.commit`), and at every run and stream
boundary. Queued frames are written to Zarr before the rows that point at them
are committed, so a reader never sees a reference to a frame not yet stored.
"""

from __future__ import annotations

import contextlib
import functools
import math
import sqlite3
import time as _time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import zarr

from resonance_callback import jsoncodec
from resonance_callback._sqlite import connect
from resonance_callback.errors import DocumentError, StorageError, WriterStateError
from resonance_callback.store._external_rows import ExternalRowsMixin
from resonance_callback.store._frames import DEFAULT_CODEC, FrameStore
from resonance_callback.store._sample import SampleMetadata
from resonance_callback.store._vocabulary import EXIT_STATUSES

__all__ = ["RunWriter"]

#: Event rows per multi-row INSERT in :meth:`RunWriter.write_events` (7 parameters
#: each; SQLite allows 32766 per statement).
_ROWS_PER_INSERT = 4000

#: The writer's page cache, in KiB (SQLite's default is 2 MiB). The random-uid index of
#: 100k events (~4.5 MB) fits, so inserts stop reading index pages back from the OS
#: (100k events ~1.4x faster than with 2 MiB), while memory stays flat in N (peak RSS
#: from 10k to 100k events: +3.6 MB, 1.05x; 8 MiB was 1.09x, 16 MiB 1.20x).
CACHE_KIB = 6144

#: WAL pages before an automatic checkpoint (SQLite's default is 1000). Each
#: checkpoint syncs the disk twice; with random uids every commit dirties pages all
#: over the uid index, so rarer checkpoints write each page once for many commits.
#: With 16 KiB pages the WAL may reach ~160 MB during a long run; the last connection
#: to close checkpoints it into the ``.db`` file and removes it.
WAL_AUTOCHECKPOINT = 10_000


@functools.lru_cache(maxsize=64)
def _insert_events_sql(n: int) -> str:
    return ("INSERT INTO events (uid, stream_uid, seq_num, time, data, timestamps, filled, "
            "derived) VALUES " + ",".join(["(?,?,?,?,?,?,?,0)"] * n))



@dataclass
class _StreamState:
    run_uid: str
    name: str
    seq_num: int = 0
    arrays: dict[str, str] = field(default_factory=dict)  # field -> zarr path


def _array_key(name: str) -> str:
    """Make a stream or field name safe as one Zarr path component."""
    return name.replace("%", "%25").replace("/", "%2F") or "%00"


class RunWriter(ExternalRowsMixin):
    """Manages a SQLite connection to a beamtime database and writes scan data.

    Parameters
    ----------
    db_path : Path
        Path to the beamtime SQLite database file. Created on first open if it
        does not exist.
    sample : SampleMetadata
        Sample to associate with runs written through this writer, unless
        :meth:`open_run` is given one. ``None`` means a sample named ``unknown``.
    commit_every : int, optional
        Commit after this many events at the latest (default 1000).
    commit_interval : float, optional
        Commit when the open transaction is older than this many seconds
        (default 0.5, so a row is durable within a second), checked at every
        call and by :meth:`commit_if_due`.
    codec : str, optional
        Compression of new frame arrays: ``"blosc-lz4"`` (default),
        ``"blosc-zstd"``, ``"zstd"`` or ``"none"``.
    zarr_store : path or zarr store, optional
        Where frames go; default ``{db_path.stem}.zarr/`` beside the database.
    synchronous : str, optional
        SQLite ``PRAGMA synchronous``; ``"NORMAL"`` (default) survives a killed
        process, ``"FULL"`` also a power cut.

    Attributes
    ----------
    _db_path : Path
        Resolved path to the SQLite file.
    _sample : SampleMetadata
        Sample metadata, with ``id`` set once the writer is open.
    _conn : sqlite3.Connection or None
        Active database connection, or None when closed.
    _run_uid : str
        Hex UID of the currently open run, or empty string.
    _stream_uid : str
        Hex UID of the currently open stream, or empty string.
    _seq_num : int
        Event sequence counter within the current stream.
    _zarr_store : zarr.Group or None
        Open Zarr group for image storage, or None when closed.
    """

    def __init__(
        self,
        db_path: Path | str,
        sample: SampleMetadata | None,
        *,
        commit_every: int = 1000,
        commit_interval: float = 0.5,
        codec: str = DEFAULT_CODEC,
        zarr_store: Any = None,
        synchronous: str = "NORMAL",
    ) -> None:
        if commit_every < 1:
            raise ValueError(f"commit_every must be at least 1, got {commit_every}")
        self._db_path = Path(db_path).expanduser().resolve()
        self._sample = sample if sample is not None else SampleMetadata("unknown")
        self._commit_every = commit_every
        self._commit_interval = commit_interval
        self._codec = codec
        self._zarr_location = (
            zarr_store if zarr_store is not None
            else self._db_path.with_name(f"{self._db_path.stem}.zarr")
        )
        self._synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._frames: FrameStore | None = None
        self._zarr_store: zarr.Group | None = None
        self._run_uid = ""
        self._stream_uid = ""
        self._seq_num = 0
        self._open_runs: dict[str, int] = {}  # run uid -> sample id
        self._streams: dict[str, _StreamState] = {}
        self._sample_ids: dict[str, int] = {}
        self._last_event: tuple[str, str] = ("", "")  # (event uid, stream uid)
        self._pending = 0
        self._held = 0  # depth of atomic() blocks: no batch commit inside one
        self._tx_started = 0.0
        self._ordinal: int | None = None  # last external_documents.ordinal

    # -- connection lifetime -------------------------------------------------

    def open(self) -> None:
        """Open the database connection and upsert the sample.

        Creates the beamtime schema if the database does not yet exist. If
        ``self._sample.id`` is None, the sample is looked up by name; if a
        matching row exists its id is loaded, otherwise a new row is inserted.
        A Zarr store is opened (or created) alongside the ``.db`` file at
        ``{db_path.stem}.zarr/``.

        Raises
        ------
        RuntimeError
            If the writer is already open (:class:`WriterStateError`).
        DatabaseError
            If the database file is corrupt, unreadable, not a beamtime
            database, or of a newer schema (:class:`BeamtimeDatabaseError`).
        OSError
            If the database or the Zarr store cannot be created
            (:class:`StorageError`).
        """
        if self._conn is not None:
            raise WriterStateError(f"RunWriter for {self._db_path} is already open")
        conn = connect(self._db_path, "beamtime", synchronous=self._synchronous)
        try:
            self._frames = FrameStore(self._zarr_location, codec=self._codec)
        except BaseException:
            conn.close()
            raise
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT}")
        self._conn = conn
        self._zarr_store = self._frames.group
        self._sample.id = self._sample_id(self._sample)
        self.commit()

    def close(self) -> None:
        """Commit any remaining work and close the database connection.

        Runs still open stay open in the database (``exit_status`` NULL), as
        after a crash; close them first with :meth:`close_run`.

        Raises
        ------
        RuntimeError
            If the writer is not open (:class:`WriterStateError`).
        """
        conn = self._require_open("close")
        try:
            self.commit()
        finally:
            conn.close()
            self._conn = None
            if self._frames is not None:
                self._frames.close()
            self._frames = None
            self._zarr_store = None
            self._open_runs.clear()
            self._streams.clear()
            self._run_uid = self._stream_uid = ""

    def __enter__(self) -> RunWriter:
        """Open the writer (if not open yet) and return it."""
        if self._conn is None:
            self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the run and connection, propagating any exception.

        Parameters
        ----------
        exc_type : type[BaseException] or None
            Exception type if an exception occurred, otherwise None.
        exc : BaseException or None
            Exception instance if an exception occurred, otherwise None.
        tb : object
            Traceback object if an exception occurred, otherwise None.
        """
        if self._conn is None:
            return
        try:
            for run_uid in list(self._open_runs):
                self.close_run(exit_status="failed" if exc_type else "success", uid=run_uid)
        finally:
            self.close()

    # -- transactions ----------------------------------------------------------

    @property
    def commit_interval(self) -> float:
        """Seconds after which pending rows are committed (see the constructor)."""
        return self._commit_interval

    def commit(self) -> None:
        """Write queued frames, then commit every pending row.

        Raises
        ------
        RuntimeError
            If the writer is not open (:class:`WriterStateError`).
        OSError
            If the frames or rows cannot be written (:class:`StorageError`).
        """
        conn = self._require_open("commit")
        assert self._frames is not None
        self._frames.flush()
        if conn.in_transaction:
            self._execute("COMMIT")
        self._pending = 0

    def commit_if_due(self) -> bool:
        """Commit if the open transaction is older than ``commit_interval``.

        Returns
        -------
        bool
            Whether a commit happened.
        """
        if self._conn is None or not self._conn.in_transaction:
            return False
        if _time.monotonic() - self._tx_started < self._commit_interval:
            return False
        self.commit()
        return True

    def seconds_until_due(self) -> float | None:
        """Seconds until the open transaction is due, or None when nothing is pending."""
        if self._conn is None or not self._conn.in_transaction:
            return None
        return max(0.0, self._commit_interval - (_time.monotonic() - self._tx_started))

    def _begin(self, since: float | None = None) -> sqlite3.Connection:
        conn = self._conn
        assert conn is not None
        if not conn.in_transaction:
            self._execute("BEGIN IMMEDIATE")
            now = _time.monotonic()
            self._tx_started = now if since is None else min(now, since)
        return conn

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Keep the rows written inside the block in one commit batch.

        An event and its frames (:meth:`write_event` then :meth:`write_image`)
        written in one block become visible to readers together: the batch
        commit that ``commit_every`` / ``commit_interval`` call for is taken
        at the end of the block, not between its rows.
        """
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        if self._conn is not None:
            self._maybe_commit()

    def _count_and_maybe_commit(self) -> None:
        self._pending += 1
        self._maybe_commit()

    def _maybe_commit(self) -> None:
        if self._held or not self._pending:
            return
        if (self._pending >= self._commit_every
                or _time.monotonic() - self._tx_started >= self._commit_interval):
            self.commit()

    def _execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        assert self._conn is not None
        try:
            return self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise DocumentError(f"{self._db_path}: {exc} (uid already stored?)") from exc
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write {self._db_path}: {exc}") from exc

    # -- state checks ----------------------------------------------------------

    def _require_open(self, what: str) -> sqlite3.Connection:
        if self._conn is None:
            raise WriterStateError(f"cannot {what}: RunWriter for {self._db_path} is not open")
        return self._conn

    def _require_run(self, what: str, run_uid: str | None = None) -> str:
        self._require_open(what)
        uid = run_uid or self._run_uid
        if not uid:
            raise WriterStateError(f"cannot {what}: no run is open in {self._db_path}")
        if uid not in self._open_runs:
            raise WriterStateError(f"cannot {what}: run {uid} is not open in {self._db_path}")
        return uid

    def _require_stream(self, what: str, stream_uid: str | None = None) -> tuple[str, _StreamState]:
        self._require_run(what)
        uid = stream_uid or self._stream_uid
        if not uid:
            raise WriterStateError(f"cannot {what}: no stream is open in {self._db_path}")
        state = self._streams.get(uid)
        if state is None:
            raise WriterStateError(f"cannot {what}: stream {uid} is not open in {self._db_path}")
        return uid, state

    # -- samples ---------------------------------------------------------------

    def _sample_id(self, sample: SampleMetadata) -> int:
        if sample.id is not None:
            return sample.id
        cached = self._sample_ids.get(sample.name)
        if cached is not None:
            return cached
        self._begin()
        meta = sample.metadata()
        row = self._execute("SELECT id, metadata FROM samples WHERE name = ?",
                            (sample.name,)).fetchone()
        if row is None:
            sample_id = self._execute(
                "INSERT INTO samples (name, metadata) VALUES (?, ?)",
                (sample.name, jsoncodec.dumps(meta)),
            ).lastrowid
        else:
            sample_id = row[0]
            stored = jsoncodec.loads(row[1]) or {}
            if meta and any(stored.get(k) != v for k, v in meta.items()):
                stored.update(meta)
                self._execute("UPDATE samples SET metadata = ? WHERE id = ?",
                              (jsoncodec.dumps(stored), sample_id))
        assert sample_id is not None
        self._sample_ids[sample.name] = sample_id
        return sample_id

    # -- runs ------------------------------------------------------------------

    def open_run(
        self,
        plan_name: str,
        *,
        metadata: dict[str, Any] | None = None,
        uid: str | None = None,
        sample: SampleMetadata | None = None,
        time: float | None = None,
    ) -> str:
        """Insert a new run row and return its UID.

        Parameters
        ----------
        plan_name : str
            Name of the scan plan, e.g. ``"en_scan"``.
        metadata : dict[str, Any] or None
            Arbitrary run-level metadata serialized to JSON. Defaults to an
            empty dict. The callback stores the whole start document here.
        uid : str or None, optional
            The run's uid (the start document's); a new hex UUID if None.
        sample : SampleMetadata or None, optional
            The run's sample, upserted by name; the writer's sample if None.
        time : float or None, optional
            Unix start time; now if None.

        Returns
        -------
        str
            UID of the newly created run.

        Raises
        ------
        RuntimeError
            If the writer is not open (:class:`WriterStateError`).
        ValueError
            If a run with this uid is already stored (:class:`DocumentError`).
        """
        self._require_open("open a run")
        uid = uid or uuid.uuid4().hex
        metadata = metadata or {}
        sample_id = self._sample_id(sample if sample is not None else self._sample)
        scan_id = metadata.get("scan_id")
        self._begin()
        self._execute(
            "INSERT INTO runs (uid, sample_id, plan_name, scan_id, time_start, metadata) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (uid, sample_id, plan_name, scan_id if isinstance(scan_id, int) else None,
             _time.time() if time is None else time, jsoncodec.dumps(metadata)),
        )
        self.commit()
        self._open_runs[uid] = sample_id
        self._run_uid = uid
        self._stream_uid = ""
        self._seq_num = 0
        return uid

    def close_run(
        self,
        *,
        exit_status: str = "success",
        uid: str | None = None,
        time: float | None = None,
        reason: str | None = None,
        stop_document: dict[str, Any] | None = None,
    ) -> None:
        """Finalize the current run and commit all pending events.

        Parameters
        ----------
        exit_status : str
            Final status string: ``"success"``, ``"aborted"`` or ``"failed"``.
            Defaults to ``"success"``.
        uid : str or None, optional
            Which open run to close; the current run if None.
        time : float or None, optional
            Unix stop time; now if None.
        reason : str or None, optional
            Why the run ended (the stop document's ``reason``).
        stop_document : dict or None, optional
            The stop document, kept as JSON.

        Raises
        ------
        RuntimeError
            If the writer is not open or no run has been opened
            (:class:`WriterStateError`).
        ValueError
            If ``exit_status`` is not one of the three values
            (:class:`DocumentError`).
        """
        run_uid = self._require_run("close a run", uid)
        if exit_status not in EXIT_STATUSES:
            raise DocumentError(
                f"exit_status {exit_status!r} for run {run_uid} is not one of {EXIT_STATUSES}"
            )
        self._begin()
        self._execute(
            "UPDATE runs SET time_stop = ?, exit_status = ?, reason = ?, stop_document = ? "
            "WHERE uid = ?",
            (_time.time() if time is None else time, exit_status, reason,
             None if stop_document is None else jsoncodec.dumps(stop_document), run_uid),
        )
        self.commit()
        assert self._frames is not None
        self._frames.forget(f"runs/{_array_key(run_uid)}/")
        del self._open_runs[run_uid]
        for stream_uid in [s for s, st in self._streams.items() if st.run_uid == run_uid]:
            del self._streams[stream_uid]
        if self._run_uid == run_uid:
            self._run_uid = next(reversed(self._open_runs), "")
            self._stream_uid = ""
            self._seq_num = 0

    # -- streams ---------------------------------------------------------------

    def open_stream(
        self,
        name: str,
        data_keys: dict[str, Any],
        *,
        uid: str | None = None,
        run_uid: str | None = None,
        time: float | None = None,
        configuration: dict[str, Any] | None = None,
        document: dict[str, Any] | None = None,
    ) -> str:
        """Insert a new stream row and return its UID.

        One row per descriptor: a stream name may be opened again in the same
        run (a reconfigured device), and each row keeps its configuration.

        Parameters
        ----------
        name : str
            Stream name, e.g. ``"primary"``.
        data_keys : dict[str, Any]
            Descriptor mapping field names to their metadata, serialized to JSON.
        uid : str or None, optional
            The stream's uid (the descriptor's); a new hex UUID if None.
        run_uid : str or None, optional
            The open run the stream belongs to; the current run if None.
        time : float or None, optional
            The descriptor's time.
        configuration : dict or None, optional
            The descriptor's ``configuration`` (device settings per object).
        document : dict or None, optional
            The whole descriptor document, kept as JSON.

        Returns
        -------
        str
            UID of the newly created stream.

        Raises
        ------
        RuntimeError
            If the writer is not open or no run has been opened
            (:class:`WriterStateError`).
        ValueError
            If a stream with this uid is already stored (:class:`DocumentError`).
        """
        run = self._require_run("open a stream", run_uid)
        uid = uid or uuid.uuid4().hex
        self._begin()
        self._execute(
            "INSERT INTO streams (uid, run_uid, name, time, data_keys, configuration, document) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (uid, run, name, time, jsoncodec.dumps(data_keys),
             jsoncodec.dumps(configuration or {}), jsoncodec.dumps(document or {})),
        )
        self.commit()
        seq = self._last_seq_num(run, name)
        self._streams[uid] = _StreamState(run, name, seq_num=seq)
        self._stream_uid = uid
        self._seq_num = seq
        return uid

    def _last_seq_num(self, run_uid: str, name: str) -> int:
        # A second descriptor of one stream name continues its seq_num count.
        return max((s.seq_num for s in self._streams.values()
                    if s.run_uid == run_uid and s.name == name), default=0)

    # -- events ------------------------------------------------------------------

    def write_event(
        self,
        data: dict[str, Any],
        timestamps: dict[str, float] | None = None,
        *,
        stream_uid: str | None = None,
        uid: str | None = None,
        time: float | None = None,
        seq_num: int | None = None,
        filled: dict[str, Any] | None = None,
        derived: bool = False,
    ) -> str:
        """Insert an event row and return its UID.

        Events are committed in batches: every ``commit_every`` events or
        ``commit_interval`` seconds, whichever comes first, and at run end.

        Parameters
        ----------
        data : dict[str, float | int | str | bool]
            Measured values keyed by field name (any JSON-able value, numpy included).
        timestamps : dict[str, float] or None
            Per-field acquisition timestamps. Defaults to an empty dict.
        stream_uid : str or None, optional
            The open stream the event belongs to; the current stream if None.
        uid : str or None, optional
            The event's uid; a new hex UUID if None.
        time : float or None, optional
            The event's time; now if None.
        seq_num : int or None, optional
            The event's sequence number; the stream's counter + 1 if None.
        filled : dict or None, optional
            The event's ``filled`` map, kept for the round trip.
        derived : bool, optional
            True for a row the writer's caller made up (a fly scan's frames
            with no event document).

        Returns
        -------
        str
            UID of the newly inserted event.

        Raises
        ------
        RuntimeError
            If the writer is not open, no run has been opened, or no stream has
            been opened (:class:`WriterStateError`).
        ValueError
            If an event with this uid is already stored (:class:`DocumentError`).
        """
        stream, state = self._require_stream("write an event", stream_uid)
        uid = uid or uuid.uuid4().hex
        if seq_num is None:
            seq_num = state.seq_num + 1
        state.seq_num = max(state.seq_num, seq_num)
        self._begin()
        self._execute(
            "INSERT INTO events (uid, stream_uid, seq_num, time, data, timestamps, filled, derived)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (uid, stream, seq_num, _time.time() if time is None else time,
             jsoncodec.dumps(data), jsoncodec.dumps(timestamps or {}),
             None if filled is None else jsoncodec.dumps(filled), int(derived)),
        )
        self._last_event = (uid, stream)
        if stream == self._stream_uid:
            self._seq_num = state.seq_num
        self._count_and_maybe_commit()
        return uid


    def write_events(
        self,
        events: Sequence[tuple[dict[str, Any], dict[str, float] | None, str | None, str | None,
                               float | None, int | None, dict[str, Any] | None]],
        *,
        since: float | None = None,
    ) -> int:
        """Insert many event rows with one ``executemany`` per chunk; return how many were stored.

        The same as calling :meth:`write_event` for each, in order, with the
        same commits every ``commit_every`` events and ``commit_interval``
        seconds, at a fraction of the cost per event.

        Parameters
        ----------
        events : sequence of tuple
            One ``(data, timestamps, stream_uid, uid, time, seq_num, filled)``
            per event, each meaning what it means for :meth:`write_event`.
        since : float or None, optional
            :func:`time.monotonic` when the oldest of these events was handed
            over; if a transaction starts here, ``commit_interval`` counts from
            then, so queueing does not widen the window of uncommitted rows.

        Returns
        -------
        int
            The number of leading events stored. Fewer than ``len(events)``
            when a chunk holds an event that cannot be stored as it came (a
            uid already stored): that chunk is rolled back and left, with what
            follows, to the caller (:meth:`write_event` one by one says which).

            An event of a stream that is not open ends the call the same way.

        Raises
        ------
        RuntimeError
            If the writer is not open (:class:`WriterStateError`).
        OSError
            If the rows cannot be written (:class:`StorageError`).
        """
        conn = self._require_open("write events")
        assert self._frames is not None
        dumps = jsoncodec.dumps
        stored, total = 0, len(events)
        while stored < total:
            chunk = events[stored:stored + max(1, self._commit_every - self._pending)]
            # A full chunk with nothing else pending is committed as soon as it is
            # written: its INSERT then runs as its own transaction, sparing a BEGIN
            # and a COMMIT (each one more wait for the GIL behind the RunEngine).
            whole = (len(chunk) == self._commit_every and not conn.in_transaction
                     and not self._frames.pending_frames())
            params: list[Any] = []
            count = 0
            last_stream: Any = self  # no stream uid is ever this
            stream, state = "", None
            current = False  # a row of the current stream was written
            for data, timestamps, stream_uid, uid, time, seq_num, filled in chunk:
                if stream_uid != last_stream or stream_uid is None:
                    try:
                        stream, state = self._require_stream("write an event", stream_uid)
                    except WriterStateError:  # left to write_event, which raises it
                        chunk = ()
                        break
                    last_stream = stream_uid
                    current = current or stream == self._stream_uid
                assert state is not None
                if seq_num is None:
                    seq_num = state.seq_num + 1
                if seq_num > state.seq_num:
                    state.seq_num = seq_num
                uid = uid or uuid.uuid4().hex
                params += (uid, stream, seq_num, _time.time() if time is None else time,
                           dumps(data), dumps(timestamps) if timestamps else "{}",
                           None if filled is None else dumps(filled))
                count += 1
            if not count:
                return stored
            if not (whole and count == len(chunk)):
                whole = False
                self._begin(since)
            since = None  # a later chunk's transaction starts when it is written
            # One statement per chunk: it is atomic by itself (a duplicate uid undoes
            # the whole chunk), and the GIL is given up, then waited for again behind
            # the RunEngine's thread, once per chunk rather than once per row.
            width = 7 * _ROWS_PER_INSERT
            savepoint = count > _ROWS_PER_INSERT
            try:
                if savepoint:
                    conn.execute("BEGIN IMMEDIATE" if whole else "SAVEPOINT write_events")
                for start in range(0, len(params), width):
                    part = params[start:start + width]
                    conn.execute(_insert_events_sql(len(part) // 7), part)
            except sqlite3.IntegrityError:
                if savepoint:
                    conn.execute("ROLLBACK" if whole else "ROLLBACK TO write_events")
                    if not whole:
                        conn.execute("RELEASE write_events")
                return stored
            except sqlite3.Error as exc:
                raise StorageError(f"cannot write {self._db_path}: {exc}") from exc
            if savepoint:
                conn.execute("COMMIT" if whole else "RELEASE write_events")
            self._last_event = (params[-7], params[-6])
            if current:
                self._seq_num = self._streams[self._stream_uid].seq_num
            stored += count
            if not whole:
                self._pending += count - 1
                self._count_and_maybe_commit()
            if not chunk:  # stopped before an event of a stream that is not open
                return stored
        return stored

    def write_image(
        self,
        event_uid: str,
        field_name: str,
        image: np.ndarray,
        *,
        timestamp: float | None = None,
    ) -> None:
        """Append a 2-D image frame to the Zarr store and record a reference in SQLite.

        Parameters
        ----------
        event_uid : str
            UID of the parent event row in the ``events`` table.
        field_name : str
            Detector field name, e.g. ``"img"``.
        image : numpy.ndarray
            2-D array of shape ``(H, W)``; any other fixed shape (a stack
            ``(n, H, W)`` per event, a long 1-D trace) is stored the same way.
            The dtype is kept.
        timestamp : float or None, optional
            The field's timestamp in the event.

        Raises
        ------
        RuntimeError
            If the writer is not open (:class:`WriterStateError`).
        RuntimeError
            If no run has been opened (:class:`WriterStateError`).
        RuntimeError
            If no stream has been opened (:class:`WriterStateError`).
        ValueError
            If the event is unknown, or the frame's shape or dtype does not fit
            the field's array (:class:`DocumentError`, :class:`FrameShapeError`).

        Notes
        -----
        The Zarr store lives at ``{db_path.stem}.zarr/`` alongside the ``.db``
        file. Frames are appended to the array at
        ``runs/{run_uid}/{stream_name}/{field_name}`` inside the store (the
        spec's ``runs/{run_uid}/{field_name}`` plus the stream name, so two
        streams never share an array), one frame per chunk. Each call grows the
        array by one frame along axis 0. The ``image_refs`` row stores the
        array's path and the zero-based frame index, and ``compression_codec``
        records the codec the array really uses.
        """
        # The event's stream, not the latest one: another run may have opened since.
        self._require_stream("write an image", next(iter(self._streams), None))
        stream_uid = self._event_stream(event_uid)
        state = self._streams.get(stream_uid)
        if state is None:
            raise WriterStateError(
                f"cannot write image {field_name!r}: event {event_uid} belongs to stream "
                f"{stream_uid}, which is not open"
            )
        assert self._frames is not None
        frame = np.asarray(image)
        path = state.arrays.get(field_name) or self._choose_array(state, field_name, frame)
        index, codec = self._frames.append(path, frame)
        self._begin()
        self._execute(
            "INSERT INTO image_refs (event_uid, field_name, zarr_path, frame_index, "
            "compression_codec, timestamp) VALUES (?, ?, ?, ?, ?, ?)",
            (event_uid, field_name, path, index, codec,
             None if timestamp is None or not math.isfinite(timestamp) else timestamp),
        )

    def _event_stream(self, event_uid: str) -> str:
        if self._last_event[0] == event_uid:
            return self._last_event[1]
        self._begin()
        row = self._execute("SELECT stream_uid FROM events WHERE uid = ?", (event_uid,)).fetchone()
        if row is None:
            raise DocumentError(f"cannot write image: no event {event_uid} in {self._db_path}")
        return row[0]

    def _choose_array(self, state: _StreamState, field_name: str, frame: np.ndarray) -> str:
        """Pick the field's array: the stream's, or a new one if a descriptor changed shape."""
        assert self._frames is not None
        base = "/".join(("runs", _array_key(state.run_uid), _array_key(state.name),
                         _array_key(field_name)))
        path, n = base, 1
        while True:
            found = self._frames.frame_layout(path)
            if found is None or found == (frame.shape, frame.dtype):
                break
            n += 1
            path = f"{base}~{n}"
        state.arrays[field_name] = path
        return path

    # -- what could not be stored as it came ----------------------------------

    def record_rejected(
        self,
        name: str,
        document: dict[str, Any],
        reason: str,
        *,
        run_uid: str | None = None,
    ) -> None:
        """Keep a document that could not be stored as it came, with the reason.

        Parameters
        ----------
        name : str
            The document's name (``"event"``, ``"descriptor"``, ...).
        document : dict
            The document as received; stored whole as JSON.
        reason : str
            Why it was rejected.
        run_uid : str or None, optional
            The run it belongs to, if known.
        """
        self._require_open("record a rejected document")
        uid = document.get("uid") or document.get("datum_id")
        self._begin()
        self._execute(
            "INSERT INTO rejected_documents (run_uid, name, uid, reason, document, time) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (run_uid, name, None if uid is None else str(uid), reason,
             jsoncodec.dumps(document), _time.time()),
        )
        self._count_and_maybe_commit()

    def record_external(
        self,
        name: str,
        uid: str,
        document: dict[str, Any],
        *,
        run_uid: str | None = None,
    ) -> None:
        """Keep a resource, datum, stream_resource or stream_datum document for provenance.

        Parameters
        ----------
        name : str
            The document's name.
        uid : str
            Its uid (``datum_id`` for a datum).
        document : dict
            The document, stored whole as JSON.
        run_uid : str or None, optional
            The run it belongs to.

        Raises
        ------
        ValueError
            If a document of this name and uid is already stored (:class:`DocumentError`).
        """
        self._require_open("record an external document")
        self._begin()
        if self._ordinal is None:
            row = self._execute("SELECT max(ordinal) FROM external_documents").fetchone()
            self._ordinal = row[0] or 0
        self._ordinal += 1
        self._execute(
            "INSERT INTO external_documents (name, uid, run_uid, ordinal, document) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, uid, run_uid, self._ordinal, jsoncodec.dumps(document)),
        )
        self._count_and_maybe_commit()
