"""After a storage failure the next run is stored: the beamtime is reopened, at its path or beside.

:class:`BeamtimeStorage` is the callback's writer and the sink in front of it
(the writer thread, or the caller's thread), a collaborator of
:class:`~resonance_callback.callback.RunWriterCallback`. The database or
the Zarr store may be deleted, replaced or made read-only under a long-lived
callback, or the disk may fill up. Then:

* The failure surfaces as one :class:`~resonance_callback.errors.StorageError`
  naming the path, raised into the scan in flight (at its next document, or at
  its ``stop``), and one error line is logged naming the runs in flight. If the
  storage is gone (deleted, replaced, read-only), they are partial, holding what
  was committed before the failure (in the file that was there), and their later
  documents are dropped: there is nowhere to keep them. Otherwise (a full disk,
  one frame that could not be written) their later documents are still tried.
* At the next ``start`` (also when the failure happened while no run was open:
  each start looks whether the database and Zarr store are still the ones opened
  and writable, a few ``stat`` calls) the beamtime is reopened: at its path (a
  new database there if it was deleted, the file there if it is a beamtime), or,
  if that cannot be written, in a new beamtime beside it,
  ``{stem}.recovered-{YYYYmmddTHHMMSS}.db`` with its ``.zarr``. One warning
  line says where the runs go from now on, and the run is stored.
* If no beamtime can be opened (the directory is gone or read-only), that start
  raises one :class:`StorageError` naming the paths tried; the next start tries
  again, so once the storage is back, scans are stored without a new callback.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from resonance_callback.callback._inline import InlineWriter
from resonance_callback.callback._jobs import EventJob, Job, reject
from resonance_callback.callback._runs import OpenRuns
from resonance_callback.callback._worker import WriterThread
from resonance_callback.errors import BeamtimeDatabaseError, StorageError
from resonance_callback.store import IdempotentConflicts, RowWriter, SampleMetadata

if TYPE_CHECKING:
    from resonance_callback.index import RunIndexer

__all__ = ["BeamtimeStorage", "StorageOptions"]

log = logging.getLogger("resonance_callback")

class StorageOptions(TypedDict):
    """How the callback's writer is made (its options; see ``RunWriterCallback``)."""

    sample: SampleMetadata | None
    commit_every: int
    commit_interval: float
    codec: str
    threaded: bool


#: What opening a beamtime may raise when its location cannot be used.
_CANNOT_OPEN = (StorageError, BeamtimeDatabaseError, OSError, sqlite3.Error)


class BeamtimeStorage:
    """The callback's writer and sink, reopened at the first start after a storage failure.

    Parameters
    ----------
    db_path : Path or str
        The beamtime (see :class:`~resonance_callback.callback.RunWriterCallback`).
    runs : OpenRuns
        The callback's open runs (those in flight at a failure are lost).
    index : RunIndexer or None
        Told where runs go after a reopen.
    options : StorageOptions
        ``sample``, ``commit_every``, ``commit_interval``, ``codec``, ``threaded``.
    zarr_store : path or zarr store, optional
        The Zarr store asked for (kept while the beamtime is at its first path).

    Raises
    ------
    Exception
        What opening a :class:`~resonance_callback.store.RowWriter` raises.
    """

    def __init__(self, db_path: Path | str, *, runs: OpenRuns, index: RunIndexer | None,
                 options: StorageOptions, zarr_store: Any = None) -> None:
        self._runs = runs
        self._index = index
        self._options = options
        self.sink = self._new_sink(Path(db_path), zarr_store)
        self.db_path = self.sink.writer.db_path
        self._first_path = self.db_path  # where a new beamtime goes beside
        self._zarr_store = zarr_store  # the Zarr store asked for, kept while at the first path
        self._failure: str | None = None  # why the storage failed, until it is reopened
        self._lost: set[str] = set()  # runs in flight at a failure: their documents dropped
        self._gone = False  # the storage failed is gone (deleted, replaced, read-only)

    def submit(self, job: Job | EventJob) -> None:
        """Hand ``job`` to the sink (raising an earlier failure of the writer thread)."""
        self.sink.submit(job)

    def reject(self, name: str, content: object, reason: str, run_uid: str | None = None) -> None:
        """Keep ``content`` as rejected (see ``RunWriterCallback.record_rejected``)."""
        if run_uid is None and isinstance(content, dict):
            try:
                run_uid = self._runs.uid_of(content)
            except Exception:  # noqa: BLE001 - a document too odd to place: kept without a run
                run_uid = None
        self.sink.submit(Job(lambda w: reject(w, name, content, reason, run_uid),
                             name, content, run_uid))

    @property
    def dropping(self) -> bool:
        """Whether some documents are dropped (storage gone, or runs lost at a failure)."""
        return self._gone or bool(self._lost)

    def _new_sink(self, db_path: Path, zarr_store: Any) -> WriterThread | InlineWriter:
        options = self._options
        writer = RowWriter(db_path, options["sample"], conflicts=IdempotentConflicts(),
                           commit_every=options["commit_every"],
                           commit_interval=options["commit_interval"],
                           codec=options["codec"], zarr_store=zarr_store)
        writer.open()
        if options["threaded"]:
            return WriterThread(writer)
        return InlineWriter(writer, options["commit_every"])

    # -- a failure ---------------------------------------------------------------------

    def failed(self, exc: BaseException, doc: object) -> None:
        """Note a storage failure met at ``doc``; the runs in flight are partial (logged once)."""
        if self._failure is not None:
            return
        self._failure = str(exc)
        try:  # the document's run, if it was stopping: its stop is not stored either
            current = self._runs.uid_of(doc) if isinstance(doc, dict) else None
        except Exception:  # noqa: BLE001 - a document too odd to place
            current = None
        if self.sink.writer.storage_problem() is not None:  # gone: nothing more can be stored
            self._gone = True
            self._lose_runs_in_flight(self._failure, current)
            return
        in_flight = [*self._runs.runs, *([current] if current else [])]
        log.error("%s", f"storage of {self.db_path} failed ({self._failure}): run(s) "
                        f"{', '.join(dict.fromkeys(in_flight)) or '(none)'} in flight may be "
                        "partial; their later documents are still tried, and the next run "
                        "reopens the beamtime")

    def _lose_runs_in_flight(self, why: str, current: str | None = None,
                             report: bool = True) -> None:
        in_flight = list(self._runs.runs.values())
        for run in in_flight:
            self._runs.stop(run)
        lost = [run.uid for run in in_flight]
        if current is not None and current not in lost:
            lost.append(current)
        self._lost.update(lost)
        if lost and report:
            log.error("%s", f"storage of {self.db_path} failed ({why}): run(s) "
                            f"{', '.join(lost)} in flight are partial, holding what was "
                            "committed before the failure; the next run is stored in a "
                            "reopened beamtime")

    def dropped(self, name: str, doc: object) -> bool:
        """Whether a document is of a run lost at a failure, or comes while storage is gone."""
        if self._gone:
            return True  # nowhere to keep it; the failure was reported
        try:
            uid = self._runs.uid_of(doc) if isinstance(doc, dict) else None
        except Exception:  # noqa: BLE001 - a document too odd to place is routed as usual
            return False
        if uid not in self._lost:
            return False
        if name == "stop":  # the lost run's last document: its later ones are routed as usual
            self._lost.discard(uid)
        return True

    def closed_if_gone(self) -> bool:
        """At close: if the storage is gone, report the runs in flight and stop, quietly."""
        if not self._gone:
            problem = self.sink.writer.storage_problem()
            if problem is None:
                return False
            self._failure, self._gone = self._failure or problem, True
            self._lose_runs_in_flight(problem)
        self._discard_sink()
        return True

    def admit(self, name: str, doc: object) -> bool:
        """Before a document is routed: False if it is dropped (of a run lost at a failure).

        At a ``start``, a beamtime whose storage failed is reopened first; a
        failure the writer thread met since the last document is raised here
        (and noted, :meth:`failed`).
        """
        if name == "start":
            self.at_start(doc)  # after a storage failure: reopen the beamtime
        elif self.dropping and self.dropped(name, doc):
            return False  # of a run lost at a storage failure, reported then
        try:
            self.sink.raise_pending()
        except (StorageError, BeamtimeDatabaseError) as exc:
            self.failed(exc, doc)
            raise
        return True

    # -- the next start ------------------------------------------------------------------

    def at_start(self, doc: object) -> None:
        """Before a run opens: reopen the beamtime if its storage failed or is gone."""
        if self._failure is None:
            try:  # a failure the writer thread met since the last document
                self.sink.raise_pending()
            except (StorageError, BeamtimeDatabaseError) as exc:
                self.failed(exc, None)
        if self._failure is None:
            problem = self.sink.writer.storage_problem()
            if problem is None:
                return
            self._failure, self._gone = problem, True
            self._lose_runs_in_flight(problem)
        uid = doc.get("uid") if isinstance(doc, dict) else None
        self._reopen(self._failure, uid if isinstance(uid, str) else "(no uid)")

    def _reopen(self, why: str, run_uid: str) -> None:
        old = self.db_path
        if self._runs.runs:  # runs still open go with the failed storage (reported at it)
            self._lose_runs_in_flight(why, report=False)
        self._discard_sink()
        stamp = time.strftime("%Y%m%dT%H%M%S")
        beside = self._first_path.with_name(f"{self._first_path.stem}.recovered-{stamp}.db")
        n = 1
        while beside.exists():
            n += 1
            beside = beside.with_name(f"{self._first_path.stem}.recovered-{stamp}-{n}.db")
        tried = []
        existed = old.exists()
        for path, zarr_store in ((old, self._zarr_store if old == self._first_path else None),
                                 (beside, None)):
            try:
                sink = self._new_sink(path, zarr_store)
            except _CANNOT_OPEN as exc:
                tried.append(f"{path}: {exc}")
                continue
            problem = sink.writer.storage_problem()
            if problem is not None:
                self._close_quietly(sink)
                tried.append(problem)
                continue
            self.sink, self.db_path = sink, sink.writer.db_path
            self._failure, self._gone = None, False
            if self._index is not None:  # the index names the database that holds each run
                self._index.beamtime_moved(self.db_path)
            where = (f"a new beamtime beside it, {self.db_path} ({'; '.join(tried)})"
                     if path == beside else
                     f"{'the' if existed else 'a new'} beamtime at {self.db_path}")
            log.warning("%s", f"storage of {old} failed ({why}); reopened: run {run_uid} and "
                              f"later runs are stored in {where}")
            return
        raise StorageError(f"cannot store run {run_uid}: storage of {old} failed ({why}) and "
                           f"no beamtime can be opened ({'; '.join(tried)}); the next run "
                           "tries again")

    def _discard_sink(self) -> None:
        """Stop the failed sink and close its writer, quietly: the failure was reported."""
        sink = self.sink
        sink.discard()
        self._close_quietly(sink)

    @staticmethod
    def _close_quietly(sink: WriterThread | InlineWriter) -> None:
        with contextlib.suppress(Exception):
            sink.discard()
        with contextlib.suppress(Exception):
            sink.writer.close()
