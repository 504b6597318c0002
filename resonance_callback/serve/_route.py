"""Which beamtime a run goes to: one fixed database, or a template over its start document.

:class:`BeamtimeRouter` is a ``(name, doc)`` callable that hands every document
to the :class:`~resonance_callback.callback.RunWriterCallback` of its run's
beamtime. There is no second write path: rows, frames and rejected documents are
exactly what the in-process callback writes.

With a fixed ``--db`` every document goes to the one callback, which places it
in its run itself. With ``--db-template`` the router follows each document to
its run (``run_start``, ``descriptor``, ``resource``, ``stream_resource``), the
way event-model's ``RunRouter`` does, and forgets a run at its ``stop``.

Nothing a message holds ends the service. A run whose start cannot be routed (a
key missing, a value that is not a plain name or is too long, a path that would
leave the data root) or whose beamtime cannot be opened or written (a directory
or another application's SQLite file where the beamtime should be, a read-only
disk, a storage failure mid-run) is stored whole in the ``unrouted`` beamtime,
and the reason is kept there as a rejected document (``rejected_documents``,
name ``route``) beside one error line. Messages the service could not read are
kept there too (:meth:`BeamtimeRouter.record`).

Beamtimes open at once are bounded (:class:`~._beamtimes.OpenBeamtimes`): a run
whose beamtime was closed while it was in flight (to make room, or after a
failure) goes on when its next document comes: the router feeds the new
callback the run's ``start``, descriptors and resources again (identical rows
are skipped by the idempotent writer), then the document.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from resonance_callback.callback import RunWriterCallback
from resonance_callback.errors import RoutingError
from resonance_callback.index import RunIndexer
from resonance_callback.serve._beamtimes import (
    DEFAULT_MAX_OPEN,
    OpenBeamtimes,
    ServiceCallback,
    record_into,
)
from resonance_callback.serve._runbook import Run, RunBook
from resonance_callback.serve._template import DbTemplate

__all__ = ["BeamtimeRouter", "DbTemplate"]

log = logging.getLogger("resonance_callback.serve")

#: Documents held for a beamtime between two commits at most (then it is committed).
MAX_UNCOMMITTED = 10_000

#: A document handed to a beamtime and not committed yet: (its run, name, document).
_Entry = tuple[Run | None, str, object]


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 2000 else text[:2000] + "..."


class BeamtimeRouter:
    """Send each run's documents to the callback of its beamtime.

    Parameters
    ----------
    db : path-like or None
        The one beamtime every run goes to; or None with ``template``.
    template : DbTemplate or None
        Make the beamtime path from each start document.
    unrouted : path-like or None
        Where runs the template cannot place go, and where messages the service
        could not read are recorded (default ``{root}/unrouted.db``, or ``db``).
    make_callback : callable, optional
        ``make_callback(db_path) -> RunWriterCallback``; by default a
        :class:`ServiceCallback` with the callback's defaults (and ``indexer`` if given).
    indexer : callable, optional
        ``indexer(db_path) -> RunIndexer``: keep the master index current.
    max_open : int, optional
        Beamtimes open at once at most (least recently used ones are closed).
    open_now : bool, optional
        Open the fixed ``db`` at once; False for a standby, which must not be a writer of
        it before its lease (the beamtime would not be repaired when the active one
        dies): :meth:`open_fixed` then, as :class:`Service` does once the source is open.

    Raises
    ------
    ValueError
        Neither or both of ``db`` and ``template`` (:class:`RoutingError`).
    OSError, sqlite3.DatabaseError
        The fixed ``db`` cannot be opened.
    """

    def __init__(self, db: str | Path | None = None, *, template: DbTemplate | None = None,
                 unrouted: str | Path | None = None,
                 make_callback: Callable[..., RunWriterCallback] | None = None,
                 indexer: Callable[[Path], RunIndexer] | None = None,
                 max_open: int = DEFAULT_MAX_OPEN, open_now: bool = True) -> None:
        if (db is None) == (template is None):
            raise RoutingError("give one of a fixed beamtime database or a db template")
        self._fixed = None if db is None else Path(db).absolute()
        self._template = template
        if unrouted is None and template is not None:
            unrouted = template.root / "unrouted.db"
        self._unrouted = Path(unrouted).absolute() if unrouted is not None else self._fixed
        self._make = make_callback or ServiceCallback
        self._indexer = indexer
        self._book = RunBook()
        self._beamtimes = OpenBeamtimes(self._open, max_open, busy=self._book.busy,
                                        on_close=self._closed)
        self._uncommitted: dict[Path, list[_Entry]] = {}
        self._broken: list[tuple[Path, Exception]] = []  # failed while closed to make room
        self.routing_errors = 0
        self.failures = 0  # beamtimes that could not be opened or written
        if open_now:
            self.open_fixed()

    def open_fixed(self) -> None:
        """Open the fixed beamtime if it is not (repairing what a dead writer left)."""
        if self._fixed is not None:
            self._beamtimes.get(self._fixed)

    @property
    def beamtimes(self) -> OpenBeamtimes:
        """The beamtimes open now (bounded, least recently used closed first)."""
        return self._beamtimes

    def _open(self, path: Path) -> RunWriterCallback:
        path.parent.mkdir(parents=True, exist_ok=True)
        if self._indexer is None:
            return self._make(path)
        return self._make(path, index=self._indexer(path))

    def _committed(self, path: Path) -> None:
        self._uncommitted.pop(path, None)
        self._book.committed(path)

    def _closed(self, path: Path, exc: Exception | None) -> None:
        """``path`` was closed to make room (``exc``: closing it failed)."""
        self._book.set_aside(path)
        if exc is None:
            self._committed(path)
        else:
            self._broken.append((path, exc))  # handled (recorded, replayed) at the next flush

    # -- documents --------------------------------------------------------------
    # ``doc`` is what the wire gave, unvalidated (``object``: not even known to be a
    # dict); the router reads only the keys that name its run, each checked
    # (``Mapping[str, object]``), and the callback checks the rest.

    def __call__(self, name: str, doc: object) -> None:
        """Hand ``(name, doc)`` to the callback of its run's beamtime; never raises for it."""
        run = self._run_of(name, doc)
        self._deliver(run, name, doc)
        if run is not None and isinstance(doc, dict):
            self._book.handed(run, name, doc)

    def _run_of(self, name: str, doc: object) -> Run | None:
        """The run ``doc`` belongs to (a start opens one here); None: not known to us."""
        if not isinstance(doc, dict):
            return None
        if name == "start":
            return self._start(doc)
        return self._book.of(doc)  # None: the record beamtime's callback rejects it, saying why

    def _start(self, doc: Mapping[str, object]) -> Run | None:
        assert self._unrouted is not None
        uid = doc.get("uid")
        if self._fixed is not None:
            path = self._fixed
        else:
            assert self._template is not None
            try:
                path = self._template.path(doc)
            except RoutingError as exc:
                self.routing_errors += 1
                path = self._unrouted
                self._note(f"{exc}; stored in {path}", uid)
        if not isinstance(uid, str):
            return None  # the record beamtime's callback rejects it: no uid
        return self._book.start(uid, path)

    def _deliver(self, run: Run | None, name: str, doc: object) -> None:
        """Feed the document; on a failure, record it and go on in the unrouted beamtime.

        What the failed beamtime held uncommitted is fed again first, where its
        runs go on (the beamtime reopened, or the unrouted one), so a failure
        costs no document of a run in flight.
        """
        path = run.path if run is not None else self._record_path()
        for _attempt in range(2):
            try:
                callback = self._beamtimes.get(path)
                if run is not None and not run.live:
                    for header in run.headers:
                        if id(header[1]) not in run.skip:
                            callback(*header)
                    run.live = True
                callback(name, doc)
                held = self._uncommitted.setdefault(path, [])
                held.append((run, name, doc))
                if len(held) >= MAX_UNCOMMITTED:  # a caller that never flushes: bounded anyway
                    self.flush()
                return
            except Exception as exc:  # noqa: BLE001 - a message never ends the service
                lost = self._failed(path, exc, run)
                if run is not None and path != self._record_path():
                    self._book.move(run, self._record_path())
                    path = run.path
                self._replay(lost)
        log.error("%s %s could not be stored anywhere (beamtime %s); it is lost",
                  name, doc.get("uid") if isinstance(doc, dict) else "", path)

    def _replay(self, entries: list[_Entry]) -> None:
        """Feed again what a failed beamtime held uncommitted, in order, where it goes now."""
        if not entries:
            return
        fed = {id(doc) for _, _, doc in entries}
        runs = {id(r): r for r, _, _ in entries if r is not None}
        for run in runs.values():
            run.live = False
            run.skip = fed  # headers among the entries come with them, in order
        try:
            for owner, name, doc in entries:
                self._deliver(owner, name, doc)
        finally:
            for run in runs.values():
                run.skip = set()

    def _failed(self, path: Path, exc: Exception, run: Run | None) -> list[_Entry]:
        """Record that ``path`` could not be opened or written, close it; what it held."""
        self.failures += 1
        self._beamtimes.discard(path)
        self._book.set_aside(path)
        lost = self._uncommitted.pop(path, [])
        goes = (f"its run {run.uid} goes to {self._record_path()}"
                if run is not None and path != self._record_path() else "")
        self._note(f"beamtime {path} cannot be opened or written: {_reason(exc)}"
                   f"{'; ' + goes if goes else ''}", run.uid if run else None, path)
        return lost

    def _note(self, reason: str, run_uid: object, failed: Path | None = None) -> None:
        """One error line, and a ``route`` record in the unrouted beamtime."""
        log.error("%s", reason)
        if failed is not None and failed == self._record_path():
            return  # it is the one that failed: the log line is the record
        self.record("route", {"run_uid": run_uid if isinstance(run_uid, str) else None,
                              "reason": reason}, reason,
                    run_uid if isinstance(run_uid, str) else None)

    def record(self, name: str, doc: object, reason: str, run_uid: str | None = None) -> None:
        """Keep what the service refused (``doc``, small) with ``reason`` in the unrouted beamtime.

        Never raises: if that beamtime cannot be written either, the log line is the record.
        """
        path = self._record_path()
        try:
            record_into(self._beamtimes.get(path), name, doc, reason, run_uid)
        except Exception as exc:  # noqa: BLE001 - never ends the service
            self.failures += 1
            self._beamtimes.discard(path)
            log.error("cannot record in %s (%s): %s: %s", path, _reason(exc), name, reason)

    def _record_path(self) -> Path:
        assert self._unrouted is not None
        return self._unrouted

    # -- the whole ----------------------------------------------------------------

    def flush(self) -> None:
        """Wait until everything handed over so far is written and committed.

        Each open beamtime's ``RunWriterCallback.flush``; what that guarantees:
        :mod:`resonance_callback.store._batch`. A beamtime that fails to commit is
        recorded and closed (its runs in flight go on when their next document
        comes); this never raises.
        """
        for _round in range(2):
            failed, self._broken = self._broken, []
            failed += self._beamtimes.flush()
            for path in self._beamtimes.paths():
                if path not in dict(failed):
                    self._committed(path)
            if not failed:
                return
            for path, exc in failed:  # fed again where their runs go on, then committed
                self._replay(self._failed(path, exc, None))
        for path, exc in self._beamtimes.flush() + self._broken:
            self._replay(self._failed(path, exc, None))

    def close(self) -> None:
        """Write everything received, then close every beamtime (open runs stay open)."""
        for path, exc in self._beamtimes.close_all():
            self.failures += 1
            log.error("beamtime %s: closing failed: %s", path, _reason(exc))
