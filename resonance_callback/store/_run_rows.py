"""Runs and streams: the rows of start, descriptor and stop documents, each a run boundary.

:class:`RunRows` is a collaborator of :class:`~resonance_callback.store.RowWriter`.
Opening a run or a stream and closing a run commit (see
:mod:`~resonance_callback.store._batch`); a run's or stream's uid already stored
goes to the writer's conflict policy.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable

from resonance_callback import jsoncodec
from resonance_callback.errors import DocumentError
from resonance_callback.store._batch import Batch
from resonance_callback.store._conflicts import ConflictPolicy, WriterParts
from resonance_callback.store._event_columns import array_key
from resonance_callback.store._rows import RunRow, StopRow, StreamRow
from resonance_callback.store._sample import SampleMetadata
from resonance_callback.store._translate import scan_id
from resonance_callback.store._vocabulary import EXIT_STATUSES
from resonance_callback.store._write_samples import sample_id

__all__ = ["RunRows"]


class RunRows:
    """Open runs and streams, close runs; see the module documentation.

    Parameters
    ----------
    parts : callable
        ``parts(what)``: the open writer's parts; raises :class:`WriterStateError`
        (saying it cannot do ``what``) when the writer is not open.
    conflicts : ConflictPolicy
        The writer's conflict policy.
    sample : SampleMetadata
        The sample of runs whose row names none.
    """

    def __init__(self, parts: Callable[[str], WriterParts], conflicts: ConflictPolicy,
                 sample: SampleMetadata) -> None:
        self.parts = parts
        self.conflicts = conflicts
        self.sample = sample
        self._sample_ids: dict[str, int] = {}  # sample name -> samples.id

    def sample_id(self, batch: Batch, sample: SampleMetadata) -> int:
        """The id of ``sample``'s row, upserted by name (cached)."""
        return sample_id(batch, sample, self._sample_ids)

    def write_run(self, row: RunRow) -> str:
        """Open the run of ``row`` (a start document's columns) and return its uid.

        Raises
        ------
        RuntimeError
            If the writer is not open (:class:`WriterStateError`).
        ValueError
            If the run's uid is already stored (:class:`DocumentError`).
        """
        parts = self.parts("open a run")
        batch = parts.batch
        sample = self.sample_id(batch, row.sample if row.sample is not None else self.sample)
        try:
            metadata = jsoncodec.dumps(row.metadata)
        except Exception as exc:  # any failure of the encoder (a repr that raises, too)
            raise DocumentError(f"start {row.uid}: cannot encode its metadata: "
                                f"{type(exc).__name__}: {exc}") from exc
        columns = {"uid": row.uid, "sample_id": sample, "plan_name": row.plan_name,
                   "scan_id": scan_id(row.metadata), "time_start": row.time,
                   "metadata": metadata}
        with batch.unit():
            if not batch.insert("runs", columns):
                self.conflicts.conflict("runs", columns)
        batch.commit()
        parts.runs.opened_run(row.uid, sample)
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
        parts = self.parts("close a run")
        run_uid = parts.runs.require_run("close a run", row.run_uid)
        if row.exit_status not in EXIT_STATUSES:
            raise DocumentError(
                f"exit_status {row.exit_status!r} for run {run_uid} is not one of {EXIT_STATUSES}"
            )
        self.conflicts.stopping(row)
        batch = parts.batch
        with batch.unit():
            batch.execute(
                "UPDATE runs SET time_stop = ?, exit_status = ?, reason = ?, stop_document = ? "
                "WHERE uid = ?",
                (_time.time() if row.time is None else row.time, row.exit_status, row.reason,
                 None if row.document is None else jsoncodec.dumps(row.document), run_uid),
            )
        batch.commit()
        batch.frames.forget(f"runs/{array_key(run_uid)}/")
        parts.runs.closed_run(run_uid)

    def write_stream(self, row: StreamRow) -> str:
        """Open the stream of ``row`` (a descriptor's columns) and return its uid.

        Raises
        ------
        RuntimeError
            If the writer or the row's run is not open (:class:`WriterStateError`).
        ValueError
            If the stream's uid is already stored (:class:`DocumentError`).
        """
        self.conflicts.stream_opening(row)
        parts = self.parts("open a stream")
        run = parts.runs.require_run("open a stream", row.run_uid)
        batch = parts.batch
        try:
            columns = {"uid": row.uid, "run_uid": run, "name": row.name, "time": row.time,
                       "data_keys": jsoncodec.dumps(row.data_keys),
                       "configuration": jsoncodec.dumps(row.configuration),
                       "document": jsoncodec.dumps(row.document)}
        except Exception as exc:  # any failure of the encoder (a repr that raises, too)
            raise DocumentError(f"descriptor {row.uid}: cannot encode it: "
                                f"{type(exc).__name__}: {exc}") from exc
        with batch.unit():
            stored = not batch.insert("streams", columns)
            if stored:
                self.conflicts.conflict("streams", columns)
        batch.commit()
        parts.runs.opened_stream(row.uid, run, row.name)
        if stored:  # a stream stored before (a replay): its events are likely stored too
            parts.runs.streams[row.uid].found_stored = True
        return row.uid
