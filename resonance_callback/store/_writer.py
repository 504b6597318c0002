"""``RunWriter``: the spec's writer (``shared/spec/run-writer-api.txt``) over :class:`RowWriter`.

Each of the spec's calls builds the row the callback would hand over and writes it through
:class:`~resonance_callback.store._row_writer.RowWriter`; the README's "Differences from
the spec" lists the keyword-only extensions.
"""

from __future__ import annotations

import time as _time
import uuid
from types import TracebackType
from typing import Any

import numpy as np

from resonance_callback._sqlite import connect
from resonance_callback.errors import WriterStateError
from resonance_callback.store._batch import Batch, tune
from resonance_callback.store._events import EventTable
from resonance_callback.store._frames import FrameStore
from resonance_callback.store._repair import register_writer
from resonance_callback.store._row_writer import RowWriter
from resonance_callback.store._rows import EventRow, RunRow, StopRow, StreamRow
from resonance_callback.store._sample import SampleMetadata

__all__ = ["RunWriter"]


class RunWriter(RowWriter):
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
            self._lock = register_writer(conn, self._db_path, self._frames)
        except BaseException:
            conn.close()
            raise
        tune(conn)
        self._conn = conn
        self._batch = Batch(conn, self._db_path, self._frames, commit_every=self._commit_every,
                            commit_interval=self._commit_interval)
        self._events = EventTable(self._batch, self._stream_state, self._event_conflict)
        self._zarr_store = self._frames.group
        self._sample.id = self._sample_id(self._sample)
        self.commit()

    def close(self) -> None:
        """Commit any remaining work and close the database connection.

        Runs still open stay open (``exit_status`` NULL) until ``repair`` or the
        next writer marks them ``interrupted``; close them first with :meth:`close_run`.

        Raises
        ------
        RuntimeError
            If the writer is not open (:class:`WriterStateError`).
        """
        conn = self._require_open("close")
        try:
            self.commit()
        finally:
            self._lock.release(conn)  # our runs still open are no longer live
            conn.close()
            self._conn = self._batch = self._events = None
            if self._frames is not None:
                self._frames.close()
            self._frames = self._zarr_store = None
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
        exc_type, exc, tb
            The exception propagating, if any (then open runs close as ``failed``).
        """
        if self._conn is None:
            return
        try:
            for run_uid in list(self._open_runs):
                self.close_run(exit_status="failed" if exc_type else "success", uid=run_uid)
        finally:
            self.close()

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
            If this event (its stream, seq_num and uid) is already stored
            (:class:`DocumentError`).
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

    def write_image(
        self,
        event_uid: str,
        field_name: str,
        image: np.ndarray,
        *,
        timestamp: float | None = None,
        stream_uid: str | None = None,
        seq_num: int | None = None,
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
        stream_uid, seq_num : str and int, optional
            Where the event is, when the caller knows it: the event is then found
            by its key. Without them, the event written last is found at once and
            any other is searched for in the open streams.

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
        stream_uid = self._event_stream(event_uid, stream_uid, seq_num)
        state = self._streams.get(stream_uid)
        if state is None:
            raise WriterStateError(f"cannot write image {field_name!r}: event {event_uid} "
                                   f"belongs to stream {stream_uid}, which is not open")
        assert self._events is not None and self._batch is not None
        with self._batch.unit():
            self._events.frame(event_uid, state, field_name, image, timestamp)
