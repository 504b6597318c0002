"""``RunWriter``: typed rows in, rows in SQLite and frames in Zarr out.

The writer never sees ``(name, doc)`` pairs: :mod:`resonance_callback.callback`
translates documents into the rows of :mod:`~resonance_callback.store._rows` and
hands them to the row methods (:meth:`RunWriter.write_run`,
:meth:`~RunWriter.write_stream`, :meth:`~RunWriter.write_events`,
:meth:`~RunWriter.write_stop`, ...). The spec's methods
(``shared/spec/run-writer-api.txt``) build the same rows; the README's
"Differences from the spec" lists the keyword-only extensions.

Units of work and durability are :class:`~resonance_callback.store._batch.Batch`'s;
events and frames are :class:`~resonance_callback.store._events.EventTable`'s.
A row whose key is stored goes to the writer's conflict rule (:meth:`RunWriter._conflict`):
here a :class:`DocumentError` naming the uid; the
:class:`~resonance_callback.store.IdempotentRunWriter` compares it with the stored row.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time as _time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import zarr

from resonance_callback import jsoncodec
from resonance_callback._sqlite import connect
from resonance_callback.errors import DocumentError, WriterStateError
from resonance_callback.store._batch import Batch
from resonance_callback.store._events import EventTable, StreamState, array_key
from resonance_callback.store._external_rows import DerivedRowsMixin
from resonance_callback.store._frames import DEFAULT_CODEC, FrameStore
from resonance_callback.store._rows import EventRow, Refusal, RunRow, StopRow, StreamRow
from resonance_callback.store._sample import SampleMetadata
from resonance_callback.store._vocabulary import EXIT_STATUSES
from resonance_callback.store._write_counts import WriteCounts, write_counts

__all__ = ["RunWriter"]

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


class RunWriter(DerivedRowsMixin):
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
        self._batch: Batch | None = None
        self._events: EventTable | None = None
        self._frames: FrameStore | None = None
        self._zarr_store: zarr.Group | None = None
        self._run_uid = ""
        self._stream_uid = ""
        self._seq_num = 0
        self._open_runs: dict[str, int] = {}  # run uid -> sample id
        self._streams: dict[str, StreamState] = {}
        self._sample_ids: dict[str, int] = {}
        self._ordinal: int | None = None  # last external_documents.ordinal
        #: What this session did: ``"rejected"`` documents, and (for the
        #: :class:`IdempotentRunWriter`) ``"resumed"`` runs and ``"already_stored"`` documents.
        self.counts: Counter[str] = Counter()

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
        self._batch = Batch(conn, self._db_path, self._frames, commit_every=self._commit_every,
                            commit_interval=self._commit_interval)
        self._events = EventTable(self._batch, self._stream_state, self._event_conflict)
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
            self._conn = self._batch = self._events = None
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
        self._require_open("commit")
        assert self._batch is not None
        self._batch.commit()

    def commit_if_due(self) -> bool:
        """Commit if the open transaction is older than ``commit_interval``.

        Returns
        -------
        bool
            Whether a commit happened.
        """
        due = self.seconds_until_due()
        if due is None or due > 0:
            return False
        self.commit()
        return True

    def seconds_until_due(self) -> float | None:
        """Seconds until the open transaction is due, or None when nothing is pending."""
        return None if self._batch is None else self._batch.due_in()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Keep the rows written inside the block in one commit batch.

        Rows written in one block become visible to readers together: the
        batch commit that ``commit_every`` / ``commit_interval`` call for is
        taken at the end of the block, not between its rows.
        """
        batch = self._batch_of("write")
        with batch.hold():
            yield

    def write_counts(self) -> WriteCounts:
        """Rows the beamtime holds now (pending ones included) and what this session did.

        Raises
        ------
        RuntimeError
            If the writer is not open (:class:`WriterStateError`).
        """
        return write_counts(self._batch_of("count rows"), self.counts)

    def _batch_of(self, what: str) -> Batch:
        self._require_open(what)
        assert self._batch is not None
        return self._batch

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

    def _require_stream(self, what: str, stream_uid: str | None = None) -> tuple[str, StreamState]:
        self._require_run(what)
        uid = stream_uid or self._stream_uid
        if not uid:
            raise WriterStateError(f"cannot {what}: no stream is open in {self._db_path}")
        state = self._streams.get(uid)
        if state is None:
            raise WriterStateError(f"cannot {what}: stream {uid} is not open in {self._db_path}")
        return uid, state

    def _stream_state(self, stream_uid: str) -> StreamState:
        return self._require_stream("write an event", stream_uid)[1]

    # -- conflicts: a row whose key is already stored ----------------------------

    def _conflict(self, table: str, row: dict[str, Any]) -> None:
        """A row of ``table`` whose key is stored: refused here, naming its uid."""
        what = {"runs": "run", "streams": "stream", "events": "event"}.get(table, row.get("name"))
        raise DocumentError(f"{what} {row.get('uid')} is already stored in {self._db_path}")

    def _event_conflict(self, row: EventRow, frames: dict[str, np.ndarray]
                        ) -> Mapping[str, np.ndarray]:
        """An event whose uid is stored: returns the frames still to write, or raises."""
        self._conflict("events", {"uid": row.uid})
        return frames

    # -- samples ---------------------------------------------------------------

    def _sample_id(self, sample: SampleMetadata) -> int:
        if sample.id is not None:
            return sample.id
        cached = self._sample_ids.get(sample.name)
        if cached is not None:
            return cached
        batch = self._batch_of("store a sample")
        meta = sample.metadata()
        row = batch.execute("SELECT id, metadata FROM samples WHERE name = ?",
                            (sample.name,)).fetchone()
        if row is None:
            sample_id = batch.execute("INSERT INTO samples (name, metadata) VALUES (?, ?)",
                                      (sample.name, jsoncodec.dumps(meta))).lastrowid
        else:
            sample_id = row[0]
            stored = jsoncodec.loads(row[1]) or {}
            if meta and any(stored.get(k) != v for k, v in meta.items()):
                stored.update(meta)
                batch.execute("UPDATE samples SET metadata = ? WHERE id = ?",
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
        return self.write_run(RunRow(uid or uuid.uuid4().hex, plan_name,
                                     _time.time() if time is None else time, metadata or {},
                                     sample))

    def write_run(self, row: RunRow) -> str:
        """Open the run of ``row`` (a start document's columns) and return its uid.

        Raises
        ------
        RuntimeError
            If the writer is not open (:class:`WriterStateError`).
        ValueError
            If the run's uid is already stored (:class:`DocumentError`).
        """
        batch = self._batch_of("open a run")
        sample_id = self._sample_id(row.sample if row.sample is not None else self._sample)
        scan_id = row.metadata.get("scan_id")
        columns = {"uid": row.uid, "sample_id": sample_id, "plan_name": row.plan_name,
                   "scan_id": scan_id if isinstance(scan_id, int) else None,
                   "time_start": row.time, "metadata": jsoncodec.dumps(row.metadata)}
        with batch.unit():
            if not batch.insert("runs", columns):
                self._conflict("runs", columns)
        self.commit()
        self._open_runs[row.uid] = sample_id
        self._run_uid = row.uid
        self._stream_uid = ""
        self._seq_num = 0
        return row.uid

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
        self.write_stop(StopRow(run_uid, exit_status, time, reason, stop_document))

    def write_stop(self, row: StopRow) -> None:
        """Close the run of ``row`` (a stop document's columns) and commit.

        Raises
        ------
        RuntimeError
            If the writer or the run is not open (:class:`WriterStateError`).
        ValueError
            If ``exit_status`` is not one of the three values (:class:`DocumentError`).
        """
        run_uid = self._require_run("close a run", row.run_uid)
        if row.exit_status not in EXIT_STATUSES:
            raise DocumentError(
                f"exit_status {row.exit_status!r} for run {run_uid} is not one of {EXIT_STATUSES}"
            )
        batch = self._batch_of("close a run")
        with batch.unit():
            batch.execute(
                "UPDATE runs SET time_stop = ?, exit_status = ?, reason = ?, stop_document = ? "
                "WHERE uid = ?",
                (_time.time() if row.time is None else row.time, row.exit_status, row.reason,
                 None if row.document is None else jsoncodec.dumps(row.document), run_uid),
            )
        self.commit()
        assert self._frames is not None
        self._frames.forget(f"runs/{array_key(run_uid)}/")
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
        return self.write_stream(StreamRow(uid or uuid.uuid4().hex, run, name, data_keys, time,
                                           configuration or {}, document or {}))

    def write_stream(self, row: StreamRow) -> str:
        """Open the stream of ``row`` (a descriptor's columns) and return its uid.

        Raises
        ------
        RuntimeError
            If the writer or the row's run is not open (:class:`WriterStateError`).
        ValueError
            If the stream's uid is already stored (:class:`DocumentError`).
        """
        run = self._require_run("open a stream", row.run_uid)
        batch = self._batch_of("open a stream")
        columns = {"uid": row.uid, "run_uid": run, "name": row.name, "time": row.time,
                   "data_keys": jsoncodec.dumps(row.data_keys),
                   "configuration": jsoncodec.dumps(row.configuration),
                   "document": jsoncodec.dumps(row.document)}
        with batch.unit():
            if not batch.insert("streams", columns):
                self._conflict("streams", columns)
        self.commit()
        # A second descriptor of one stream name continues its seq_num count.
        seq = max((s.seq_num for s in self._streams.values()
                   if s.run_uid == run and s.name == row.name), default=0)
        self._streams[row.uid] = StreamState(run, row.name, seq_num=seq)
        self._stream_uid = row.uid
        self._seq_num = seq
        return row.uid

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
        assert self._events is not None
        row = EventRow(uid or uuid.uuid4().hex, stream,
                       state.seq_num + 1 if seq_num is None else seq_num,
                       _time.time() if time is None else time, data, timestamps or {}, filled)
        self._events.insert_one(row, derived=derived)
        if stream == self._stream_uid:
            self._seq_num = state.seq_num
        return row.uid

    def write_events(self, rows: Sequence[EventRow], *,
                     since: float | None = None) -> list[Refusal]:
        """Store a batch of events, each with its frames; return the rows refused.

        Scalar events go in multi-row INSERTs; an event with frames is stored
        with its frames as one unit of work. Commits happen as for
        :meth:`write_event`. A row the store refuses (its uid is stored, a value
        cannot be encoded or stored, its stream is not open) is left out alone;
        the rest of the batch is stored.

        Parameters
        ----------
        rows : sequence of EventRow
            The events, in order.
        since : float or None, optional
            :func:`time.monotonic` when the oldest of these events was handed
            over; if a transaction starts here, ``commit_interval`` counts from
            then, so queueing does not widen the window of uncommitted rows.

        Returns
        -------
        list of Refusal
            The position of each row refused in ``rows``, with the reason.

        Raises
        ------
        RuntimeError
            If the writer is not open (:class:`WriterStateError`).
        OSError
            If the rows or frames cannot be written (:class:`StorageError`).
        """
        self._require_open("write events")
        assert self._events is not None
        refused = self._events.write(rows, since=since)
        if self._stream_uid in self._streams:
            self._seq_num = self._streams[self._stream_uid].seq_num
        return refused

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
        assert self._events is not None and self._batch is not None
        with self._batch.unit():
            self._events.frame(event_uid, state, field_name, image, timestamp)

    def _event_stream(self, event_uid: str) -> str:
        assert self._events is not None and self._batch is not None
        if self._events.last[0] == event_uid:
            return self._events.last[1]
        row = self._batch.execute("SELECT stream_uid FROM events WHERE uid = ?",
                                  (event_uid,)).fetchone()
        if row is None:
            raise DocumentError(f"cannot write image: no event {event_uid} in {self._db_path}")
        return str(row[0])
