"""``RunWriter``: the spec's writer (``shared/spec/run-writer-api.txt``), a façade.

Each of the spec's calls builds the row the callback would hand over and writes it
through the :class:`~resonance_callback.store.RowWriter` it holds (with the strict
conflict policy: a stored uid is refused); the row interface (``write_run``,
``write_events``, ``event_at``, ``record_rejected``, ...) and the unit of work
(``commit``, ``commit_if_due``, ``atomic``) are the held writer's, forwarded.
``docs/spec-differences.md`` lists the keyword-only extensions.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

import zarr

from resonance_callback.store import _spec_calls as spec_calls
from resonance_callback.store._codecs import DEFAULT_CODEC
from resonance_callback.store._external_rows import DerivedRows
from resonance_callback.store._forward import forward
from resonance_callback.store._records import Records
from resonance_callback.store._row_writer import RowWriter
from resonance_callback.store._run_rows import RunRows
from resonance_callback.store._sample import SampleMetadata

__all__ = ["RunWriter"]


class RunWriter:
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
    frames : str or path, optional
        The same as ``zarr_store``, also ``"s3://bucket/prefix"`` (an object store,
        recorded in the beamtime); default the one recorded, else ``zarr_store``.
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
        frames: str | Path | None = None,
    ) -> None:
        self._writer = RowWriter(db_path, sample, commit_every=commit_every,
                                 commit_interval=commit_interval, codec=codec,
                                 zarr_store=frames if frames is not None else zarr_store,
                                 synchronous=synchronous)

    # -- the spec's attributes ---------------------------------------------------

    @property
    def _db_path(self) -> Path:
        return self._writer.db_path

    @property
    def _sample(self) -> SampleMetadata:
        return self._writer.sample

    @property
    def _conn(self) -> Any:  # sqlite3.Connection while open
        storage = self._writer.storage
        return None if storage is None else storage.conn

    @property
    def _zarr_store(self) -> zarr.Group | None:
        storage = self._writer.storage
        return None if storage is None else storage.frames.group

    @property
    def _run_uid(self) -> str:
        return self._writer.runs.run_uid

    @property
    def _stream_uid(self) -> str:
        return self._writer.runs.stream_uid

    @property
    def _seq_num(self) -> int:
        return self._writer.runs.seq_num

    @property
    def counts(self) -> Counter[str]:
        """What this session did (``"rejected"`` documents)."""
        return self._writer.counts

    @property
    def commit_interval(self) -> float:
        """Seconds after which pending rows are committed (see the constructor)."""
        return self._writer.commit_interval

    # -- the row interface and the unit of work: the held writer's --------------------

    commit = forward(RowWriter.commit)
    commit_if_due = forward(RowWriter.commit_if_due)
    seconds_until_due = forward(RowWriter.seconds_until_due)
    atomic = forward(RowWriter.atomic)
    storage_problem = forward(RowWriter.storage_problem)
    write_counts = forward(RowWriter.write_counts)
    write_run = forward(RunRows.write_run, "run_rows")
    write_stream = forward(RunRows.write_stream, "run_rows")
    write_events = forward(RowWriter.write_events)
    write_stop = forward(RunRows.write_stop, "run_rows")
    already_stored = forward(RowWriter.already_stored)
    event_at = forward(DerivedRows.event_at, "derived")
    claim_derived_event = forward(DerivedRows.claim_derived_event, "derived")
    merge_event_data = forward(DerivedRows.merge_event_data, "derived")
    record_unresolved = forward(Records.record_unresolved, "records")
    record_rejected = forward(Records.record_rejected, "records")
    record_external = forward(Records.record_external, "records")

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
        self._writer.open()

    def close(self) -> None:
        """Commit any remaining work and close the database connection.

        Runs still open stay open (``exit_status`` NULL) until ``repair`` or the
        next writer marks them ``interrupted``; close them first with :meth:`close_run`.

        Raises
        ------
        RuntimeError
            If the writer is not open (:class:`WriterStateError`).
        """
        self._writer.close()

    def __enter__(self) -> RunWriter:
        """Open the writer (if not open yet) and return it."""
        if self._writer.storage is None:
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
        if self._writer.storage is None:
            return
        try:
            for run_uid in list(self._writer.runs.runs):
                self.close_run(exit_status="failed" if exc_type else "success", uid=run_uid)
        finally:
            self.close()

    # -- the spec's calls, each a row for the held writer (:mod:`._spec_calls`) ----------

    open_run = spec_calls.open_run
    close_run = spec_calls.close_run
    open_stream = spec_calls.open_stream
    write_event = spec_calls.write_event
    write_image = spec_calls.write_image
