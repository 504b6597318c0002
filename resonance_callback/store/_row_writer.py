"""``RowWriter``: the store's row interface, under the spec's :class:`RunWriter`.

The writer never sees ``(name, doc)`` pairs: :mod:`resonance_callback.callback`
translates documents into the rows of :mod:`~resonance_callback.store._rows`
and hands them to :meth:`RowWriter.write_run`, :meth:`~RowWriter.write_stream`,
:meth:`~RowWriter.write_events`, :meth:`~RowWriter.write_stop` and the
``record_*`` methods. :class:`~resonance_callback.store.RunWriter` adds the
spec's calls (``shared/spec/run-writer-api.txt``), which build the same rows.

Units of work and durability are :class:`~resonance_callback.store._batch.Batch`'s;
events and frames are :class:`~resonance_callback.store._events.EventTable`'s.
A row whose key is stored goes to the writer's conflict rule
(:meth:`RowWriter._conflict`): here a :class:`DocumentError` naming the uid;
:class:`~resonance_callback.store.IdempotentRunWriter` compares it with the stored row.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time as _time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from resonance_callback import jsoncodec
from resonance_callback.errors import DocumentError, WriterStateError
from resonance_callback.store._batch import Batch
from resonance_callback.store._codecs import DEFAULT_CODEC
from resonance_callback.store._events import EventTable, StreamState, array_key
from resonance_callback.store._external_rows import DerivedRowsMixin
from resonance_callback.store._frames import FrameStore
from resonance_callback.store._rows import EventRow, Refusal, RunRow, StopRow, StreamRow
from resonance_callback.store._sample import SampleMetadata
from resonance_callback.store._vocabulary import EXIT_STATUSES
from resonance_callback.store._write_counts import WriteCounts, write_counts
from resonance_callback.store._write_samples import sample_id

__all__ = ["RowWriter"]


class RowWriter(DerivedRowsMixin):
    """Writes typed rows to a beamtime database; :class:`RunWriter` opens and closes it.

    Parameters are those of :class:`RunWriter`.
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

    def storage_problem(self) -> str | None:
        """Why the database or Zarr store can no longer be written to, or None if it can.

        Deleted or replaced behind the writer's back, or read-only now; None
        also when the writer is not open. Only looks: safe from any thread.
        """
        return None if self._batch is None else self._batch.storage_problem()

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

    def _sample_id(self, sample: SampleMetadata) -> int:
        return sample_id(self._batch_of("store a sample"), sample, self._sample_ids)

    # -- conflicts: a row whose key is already stored ----------------------------

    def _conflict(self, table: str, row: dict[str, Any]) -> None:
        """A row of ``table`` whose key is stored: refused here, naming its uid."""
        what = {"runs": "run", "streams": "stream", "events": "event"}.get(table, row.get("name"))
        raise DocumentError(f"{what} {row.get('uid')} is already stored in {self._db_path}")

    def _event_conflict(self, row: EventRow, frames: dict[str, np.ndarray]
                        ) -> Mapping[str, np.ndarray]:
        """An event whose key (stream, seq_num, uid) is stored: frames still to write, or raises."""
        self._conflict("events", {"uid": row.uid})
        return frames

    # -- runs ------------------------------------------------------------------

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
        try:
            metadata = jsoncodec.dumps(row.metadata)
        except Exception as exc:  # any failure of the encoder (a repr that raises, too)
            raise DocumentError(f"start {row.uid}: cannot encode its metadata: "
                                f"{type(exc).__name__}: {exc}") from exc
        columns = {"uid": row.uid, "sample_id": sample_id, "plan_name": row.plan_name,
                   "scan_id": scan_id if type(scan_id) is int and -(2**63) <= scan_id < 2**63
                   else None, "time_start": row.time, "metadata": metadata}
        with batch.unit():
            if not batch.insert("runs", columns):
                self._conflict("runs", columns)
        self.commit()
        self._open_runs[row.uid] = sample_id
        self._run_uid = row.uid
        self._stream_uid = ""
        self._seq_num = 0
        return row.uid

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

    # -- streams and events --------------------------------------------------

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
        try:
            columns = {"uid": row.uid, "run_uid": run, "name": row.name, "time": row.time,
                       "data_keys": jsoncodec.dumps(row.data_keys),
                       "configuration": jsoncodec.dumps(row.configuration),
                       "document": jsoncodec.dumps(row.document)}
        except Exception as exc:  # any failure of the encoder (a repr that raises, too)
            raise DocumentError(f"descriptor {row.uid}: cannot encode it: "
                                f"{type(exc).__name__}: {exc}") from exc
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

    def write_events(self, rows: Sequence[EventRow], *,
                     since: float | None = None) -> list[Refusal]:
        """Store a batch of events, each with its frames; return the rows refused.

        Scalar events go in multi-row INSERTs; an event with frames is stored
        with its frames as one unit of work. Commits happen as for
        :meth:`write_event`. A row the store refuses (the event is stored, a value
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

    def _event_stream(self, event_uid: str, stream_uid: str | None = None,
                      seq_num: int | None = None) -> str:
        """The open stream of a stored event: found by its key when the caller knows it.

        Events are keyed by ``(stream_uid, seq_num, uid)`` (schema 4): with the
        stream and seq_num given, one index lookup; the event written last, none;
        otherwise the open streams' part of the key is searched for the uid.
        """
        assert self._events is not None and self._batch is not None
        if stream_uid is not None and seq_num is not None:
            found = self._batch.execute(
                "SELECT stream_uid FROM events WHERE stream_uid = ? AND seq_num = ? AND uid = ?",
                (stream_uid, seq_num, event_uid)).fetchone()
        elif self._events.last[0] == event_uid:
            return self._events.last[1]
        else:
            streams = list(self._streams)
            found = self._batch.execute(
                f"SELECT stream_uid FROM events WHERE stream_uid IN "
                f"({', '.join('?' * len(streams))}) AND uid = ? LIMIT 1",
                (*streams, event_uid)).fetchone()
        if found is None:
            raise DocumentError(f"cannot write image: no event {event_uid} in an open stream "
                                f"of {self._db_path}")
        return str(found[0])
