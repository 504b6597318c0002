"""The callback's lifetime: flush, counts, close, and the context manager.

A mixin of :class:`~resonance_callback.callback.RunWriterCallback`, apart from
the document methods so each module reads as one concern.
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from resonance_callback.callback._runs import OpenRuns, Unplaced
from resonance_callback.callback._worker import InlineWriter, Job, WriterThread
from resonance_callback.errors import StorageError
from resonance_callback.index import RunIndexer
from resonance_callback.store import ExternalRow, WriteCounts

if TYPE_CHECKING:
    from resonance_callback.callback._external import ExternalRouting
    from resonance_callback.callback._runs import Run

__all__ = ["CallbackLifetime", "close_at_exit"]

log = logging.getLogger("resonance_callback")


class CallbackLifetime:
    """Flush, count, close; the state it uses is set by the callback's ``__init__``."""

    db_path: Path
    _sink: WriterThread | InlineWriter
    _runs: OpenRuns
    _unplaced: Unplaced
    _external: ExternalRouting
    _index: RunIndexer | None
    _closed: bool
    _counts_at_close: WriteCounts | None

    if TYPE_CHECKING:  # provided by RunWriterCallback
        def _submit(self, run: Run | None, name: str, doc: dict[str, Any], fn: Any) -> None: ...

        def _closed_if_gone(self) -> bool: ...

    def flush(self) -> None:
        """Wait until everything received so far is written and committed."""
        self._sink.drain()

    def write_counts(self) -> WriteCounts:
        """What the beamtime holds, and what this callback skipped and rejected.

        Waits until everything received so far is written. After :meth:`close`,
        the counts as they were at close.

        Returns
        -------
        WriteCounts
            Rows of runs, events, frames and rejected documents in the
            database; runs resumed, documents found already stored, and
            documents rejected by this callback.
        """
        if self._closed:
            if self._counts_at_close is None:
                raise StorageError(f"RunWriterCallback for {self.db_path} closed with an error")
            return self._counts_at_close
        found: list[WriteCounts] = []
        self._sink.submit(Job(lambda w: found.append(w.write_counts()), "counts", {}))
        self._sink.drain()
        return found[0]

    def close(self) -> None:
        """Write everything received, then close the database. Safe to call twice.

        Runs still open (no stop document yet) stay open in the database, with
        ``exit_status`` NULL, exactly as after a crash; their detector frames not
        read yet get one last bounded try, then go to ``unresolved_frames``.
        Resources without ``run_start`` that no run used are kept in
        ``external_documents`` without a run. After a storage failure that left
        nothing to write to (reported when it happened), nothing more is written.
        """
        if self._closed:
            return
        self._closed = True
        if self._closed_if_gone():  # nothing left to write to (reported once, not raised)
            if self._index is not None:
                self._index.close()
            return
        try:
            try:
                for run in self._runs.runs.values():  # pending detector data of runs left open
                    self._submit(run, "close", {},
                                 lambda w, uid=run.uid: self._external.finish(w, uid))
                for docs in self._unplaced.documents.values():  # no run ever used them
                    for name, doc in docs:
                        row = ExternalRow(name, doc.get("datum_id") or doc["uid"], None, doc)
                        self._submit(None, name, doc,
                                     lambda w, row=row: w.records.record_external(row))
            finally:
                self._sink.close()
            self._counts_at_close = self._sink.writer.write_counts()
        finally:
            self._sink.writer.close()
            if self._index is not None:
                self._index.close()

    def __enter__(self) -> Self:
        """Return the callback itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the callback."""
        self.close()


def close_at_exit(ref: weakref.ref[Any]) -> None:
    """Close the callback ``ref`` points at, if it is still alive (registered with atexit)."""
    callback = ref()
    if callback is not None:
        try:
            callback.close()
        except Exception as exc:  # at interpreter exit, report and move on
            log.error("closing %s at exit failed: %s", callback.db_path, exc)
