"""``RowWriter``: the one writer of a beamtime, composed of its parts.

The writer never sees ``(name, doc)`` pairs: :mod:`resonance_callback.callback`
translates documents into the rows of :mod:`~resonance_callback.store._rows`
and hands them to :meth:`RowWriter.write_run`, :meth:`~RowWriter.write_stream`,
:meth:`~RowWriter.write_events`, :meth:`~RowWriter.write_stop` and the
``record_*`` methods. The spec's :class:`~resonance_callback.store.RunWriter`
is a façade holding one, building the same rows from its calls.

Who owns what, while the writer is open:

* :class:`~resonance_callback.store._storage.Storage`: the connection, the
  writer lock, the :class:`~resonance_callback.store.FrameStore` and the
  :class:`~resonance_callback.store._batch.Batch`, the one owner of the unit of
  work (when rows commit and what a commit guarantees: see its module);
* :class:`~resonance_callback.store._run_rows.RunRows`: runs and streams opened
  and closed (the run boundaries);
* :class:`~resonance_callback.store._events.EventTable`: events and their frames;
* :class:`~resonance_callback.store._external_rows.DerivedRows`: events rows of
  detector documents; :class:`~resonance_callback.store._records.Records`:
  rejected and external documents, unresolved frames;
* :class:`~resonance_callback.store._writer_runs.WriterRuns`: the open runs and streams;
* the conflict policy, passed in (:mod:`~resonance_callback.store._conflicts`):
  what a row whose key is stored does, refused (strict, the default) or compared
  with the stored row (:class:`~resonance_callback.store.IdempotentConflicts`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from resonance_callback.errors import WriterStateError
from resonance_callback.store._batch import Batch
from resonance_callback.store._codecs import DEFAULT_CODEC
from resonance_callback.store._conflicts import ConflictPolicy, StrictConflicts, WriterParts
from resonance_callback.store._events import EventTable
from resonance_callback.store._external_rows import DerivedRows
from resonance_callback.store._records import Records
from resonance_callback.store._rows import (
    EventRow,
    Refusal,
    RunRow,
    StopRow,
    StreamRow,
)
from resonance_callback.store._run_rows import RunRows
from resonance_callback.store._sample import SampleMetadata
from resonance_callback.store._storage import Storage
from resonance_callback.store._write_counts import WriteCounts, run_counts, write_counts
from resonance_callback.store._writer_runs import WriterRuns

__all__ = ["RowWriter"]


class RowWriter:
    """Writes typed rows to a beamtime database; see the module documentation.

    Parameters
    ----------
    db_path, sample, commit_every, commit_interval, codec, zarr_store, synchronous
        As for :class:`~resonance_callback.store.RunWriter`.
    conflicts : ConflictPolicy, optional
        What a row whose key is stored does; :class:`StrictConflicts` (refused) if None.

    Attributes
    ----------
    counts : collections.Counter
        What this session did: ``"rejected"`` documents, and (with
        :class:`IdempotentConflicts`) ``"resumed"`` runs and ``"already_stored"`` documents.
    """

    def __init__(self, db_path: Path | str, sample: SampleMetadata | None, *,
                 commit_every: int = 1000, commit_interval: float = 0.5,
                 codec: str = DEFAULT_CODEC, zarr_store: Any = None,
                 synchronous: str = "NORMAL", conflicts: ConflictPolicy | None = None) -> None:
        if commit_every < 1:
            raise ValueError(f"commit_every must be at least 1, got {commit_every}")
        self.db_path = Path(db_path).expanduser().resolve()
        self.sample = sample if sample is not None else SampleMetadata("unknown")
        self._options: dict[str, Any] = {
            "codec": codec, "synchronous": synchronous, "commit_every": commit_every,
            "commit_interval": commit_interval}
        self._zarr_location = zarr_store  # None: the one recorded, else beside the database
        self.conflicts: ConflictPolicy = conflicts if conflicts is not None else StrictConflicts()
        self.runs = WriterRuns(self.db_path, self.conflicts.refusal)
        self.counts: Counter[str] = Counter()
        self._storage: Storage | None = None
        self._parts: WriterParts | None = None
        #: Runs and streams opened and closed (:class:`RunRows`).
        self.run_rows = RunRows(self.parts, self.conflicts, self.sample)
        #: Events rows of detector documents (:class:`DerivedRows`).
        self.derived = DerivedRows(self.parts)
        #: Rejected and external documents, unresolved frames (:class:`Records`).
        self.records = Records(self.parts, self.conflicts)

    # -- lifetime ----------------------------------------------------------------

    @property
    def storage(self) -> Storage | None:
        """The connection, frame store and batch while open; None when closed."""
        return self._storage

    def open(self) -> None:
        """Open the beamtime and store the writer's sample; see :meth:`RunWriter.open`."""
        if self._storage is not None:
            raise WriterStateError(f"RunWriter for {self.db_path} is already open")
        storage = Storage.open(self.db_path, self._zarr_location, **self._options)
        batch = storage.batch
        events = EventTable(batch, self.runs.stream_state, self.conflicts.event_conflict,
                            self.conflicts.identical_events)
        parts = WriterParts(batch, self.runs, events, self.counts, storage.take_over)
        self._storage, self._parts = storage, parts
        self.conflicts.attach(parts)
        self.sample.id = self.run_rows.sample_id(batch, self.sample)
        self.commit()

    def close(self) -> None:
        """Commit, then close; see :meth:`RunWriter.close`."""
        storage = self._open("close")
        try:
            storage.batch.commit()
        finally:
            self._storage = self._parts = None
            self.runs.clear()
            storage.close()

    def _open(self, what: str) -> Storage:
        if self._storage is None:
            raise WriterStateError(f"cannot {what}: RunWriter for {self.db_path} is not open")
        return self._storage

    def _batch(self, what: str) -> Batch:
        return self._open(what).batch

    def parts(self, what: str) -> WriterParts:
        """The open writer's parts, for its collaborators; :class:`WriterStateError` if closed."""
        self._open(what)
        assert self._parts is not None
        return self._parts

    def require_run(self, what: str, run_uid: str | None = None) -> str:
        """The open run ``run_uid`` (or the current one); :class:`WriterStateError` if none."""
        return self.parts(what).runs.require_run(what, run_uid)

    # -- the unit of work: the Batch's (when rows commit: :mod:`._batch`) -------------

    @property
    def commit_interval(self) -> float:
        """Seconds after which pending rows are committed."""
        return float(self._options["commit_interval"])

    def commit(self) -> None:
        """Write queued frames, then commit every pending row (see :meth:`Batch.commit`)."""
        self._batch("commit").commit()

    def commit_if_due(self) -> bool:
        """Commit if the open transaction is older than ``commit_interval``; whether it did."""
        due = self.seconds_until_due()
        if due is None or due > 0:
            return False
        self.commit()
        return True

    def seconds_until_due(self) -> float | None:
        """Seconds until the open transaction is due, or None when nothing is pending."""
        return None if self._storage is None else self._storage.batch.due_in()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Rows written inside the block become visible together (one commit batch)."""
        with self._batch("write").hold():
            yield

    def storage_problem(self) -> str | None:
        """Why the database or Zarr store can no longer be written to; None if it can.

        None also when the writer is not open. Only looks: safe from any thread.
        """
        return None if self._storage is None else self._storage.batch.storage_problem()

    def write_counts(self) -> WriteCounts:
        """Rows the beamtime holds now (pending ones included) and what this session did."""
        return write_counts(self._batch("count rows"), self.counts)

    def run_counts(self, run_uid: str) -> tuple[dict[str, int], int]:
        """One run's events rows per stream name and its rejected documents (a read only)."""
        return run_counts(self._batch("count a run's rows").conn, run_uid)

    # -- runs and streams: :class:`RunRows`' -----------------------------------------

    def write_run(self, row: RunRow) -> str:
        """Open the run of ``row`` and return its uid (:meth:`RunRows.write_run`)."""
        return self.run_rows.write_run(row)

    def write_stream(self, row: StreamRow) -> str:
        """Open the stream of ``row`` and return its uid (:meth:`RunRows.write_stream`)."""
        return self.run_rows.write_stream(row)

    def write_stop(self, row: StopRow) -> None:
        """Close the run of ``row`` and commit (:meth:`RunRows.write_stop`)."""
        self.run_rows.write_stop(row)

    # -- events and frames ------------------------------------------------------------

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
        return self.parts("write events").events.write(rows, since=since)

    def write_event(self, row: EventRow, *, derived: bool = False) -> str:
        """Store one event and its frames as one unit of work; raise what refuses it."""
        self.parts("write an event").events.insert_one(row, derived=derived)
        return row.uid

    def write_image(self, event_uid: str, field_name: str, image: np.ndarray, *,
                    timestamp: float | None = None, stream_uid: str | None = None,
                    seq_num: int | None = None) -> None:
        """Store a frame of a stored event; see :meth:`RunWriter.write_image`."""
        parts = self.parts("write an image")
        # The event's stream, not the latest one: another run may have opened since.
        self.runs.require_stream("write an image", next(iter(self.runs.streams), None))
        if self.conflicts.frame_stored(event_uid, field_name, image, stream_uid, seq_num):
            return
        stream_uid = parts.stream_of(event_uid, stream_uid, seq_num)
        state = self.runs.streams.get(stream_uid)
        if state is None:
            raise WriterStateError(f"cannot write image {field_name!r}: event {event_uid} "
                                   f"belongs to stream {stream_uid}, which is not open")
        with parts.batch.unit():
            parts.events.images.frame(event_uid, state, field_name, image, timestamp,
                                      stream_uid, seq_num)

    def already_stored(self, uid: str) -> bool:
        """True if the last document with this uid was found already stored (skipped)."""
        return self.conflicts.already_stored(uid)

