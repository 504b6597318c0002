"""The end of a callback's storage: what is still owed is written, then it is closed.

Functions of :class:`~resonance_callback.callback.RunWriterCallback`'s
``write_counts`` and ``close``, apart from the document methods so each module
reads as one concern.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

from resonance_callback.callback._external import ExternalRouting
from resonance_callback.callback._jobs import Job
from resonance_callback.callback._recovery import BeamtimeStorage
from resonance_callback.callback._runs import OpenRuns, Run, Unplaced
from resonance_callback.index import RunIndexer
from resonance_callback.store import ExternalRow, RowWriter, WriteCounts

__all__ = ["close_at_exit", "close_storage", "write_counts"]

log = logging.getLogger("resonance_callback")


def write_counts(storage: BeamtimeStorage) -> WriteCounts:
    """The writer's counts, once everything handed over so far is written."""
    found: list[WriteCounts] = []
    storage.submit(Job(lambda w: found.append(w.write_counts()), "counts", {}))
    storage.sink.drain()
    return found[0]


def close_storage(storage: BeamtimeStorage, runs: OpenRuns, unplaced: Unplaced,
                  external: ExternalRouting, index: RunIndexer | None) -> WriteCounts | None:
    """Write what is owed, close the writer and the index; the counts at close.

    Runs still open get their pending detector frames read (one bounded try);
    resources without ``run_start`` no run used are kept without a run. If the
    storage is gone (reported when it failed), nothing is written and the
    counts are None.
    """
    if storage.closed_if_gone():  # nothing left to write to (reported once, not raised)
        if index is not None:
            index.close()
        return None
    try:
        try:
            for run in runs.runs.values():  # pending detector data of runs left open
                storage.submit(Job(_finish(external, run), "close", {}, run.uid))
            for docs in unplaced.documents.values():  # no run ever used them
                for held in docs:
                    row = ExternalRow(held.name, held.uid, None, held.doc)
                    storage.submit(Job(_keep(row), held.name, held.doc))
        finally:
            storage.sink.close()
        return storage.sink.writer.write_counts()
    finally:
        storage.sink.writer.close()
        if index is not None:
            index.close()


def _finish(external: ExternalRouting, run: Run) -> Callable[[RowWriter], None]:
    def finish(w: RowWriter) -> None:
        external.finish(w, run)
    return finish


def _keep(row: ExternalRow) -> Callable[[RowWriter], None]:
    def keep(w: RowWriter) -> None:
        w.records.record_external(row)
    return keep


def close_at_exit(ref: weakref.ref[Any]) -> None:
    """Close the callback ``ref`` points at, if it is still alive (registered with atexit)."""
    callback = ref()
    if callback is not None:
        try:
            callback.close()
        except Exception as exc:  # at interpreter exit, report and move on
            log.error("closing %s at exit failed: %s", callback.db_path, exc)
