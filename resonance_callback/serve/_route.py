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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resonance_callback.callback import RunWriterCallback
from resonance_callback.errors import RoutingError
from resonance_callback.index import RunIndexer
from resonance_callback.serve._beamtimes import (
    DEFAULT_MAX_OPEN,
    OpenBeamtimes,
    ServiceCallback,
    record_into,
)
from resonance_callback.serve._template import DbTemplate

__all__ = ["BeamtimeRouter", "DbTemplate"]

log = logging.getLogger("resonance_callback.serve")

#: Keys a document names its owner by.
_OWNERS = ("run_start", "descriptor", "resource", "stream_resource")

#: Documents a run needs again when its beamtime is reopened mid-run.
_HEADERS = ("descriptor", "resource", "stream_resource")


@dataclass
class _Run:
    """A run in flight: its beamtime, and what to feed again if that is reopened."""

    uid: str
    path: Path
    headers: list[tuple[str, Any]] = field(default_factory=list)
    live: bool = True  # False: its beamtime was closed since; feed the headers first


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
                 max_open: int = DEFAULT_MAX_OPEN) -> None:
        if (db is None) == (template is None):
            raise RoutingError("give one of a fixed beamtime database or a db template")
        self._fixed = None if db is None else Path(db).absolute()
        self._template = template
        if unrouted is None and template is not None:
            unrouted = template.root / "unrouted.db"
        self._unrouted = Path(unrouted).absolute() if unrouted is not None else self._fixed
        self._make = make_callback or ServiceCallback
        self._indexer = indexer
        self._beamtimes = OpenBeamtimes(self._open, max_open, busy=self._busy,
                                        on_close=self._set_aside)
        self._runs: dict[str, _Run] = {}
        self._owner: dict[str, str] = {}  # run/descriptor/resource uid -> run uid
        self._in_flight: Counter[Path] = Counter()
        self.routing_errors = 0
        self.failures = 0  # beamtimes that could not be opened or written
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

    def _busy(self, path: Path) -> bool:
        return self._in_flight[path] > 0

    def _set_aside(self, path: Path) -> None:
        """``path`` was closed: its runs in flight get their headers again when they go on."""
        for run in self._runs.values():
            if run.path == path:
                run.live = False

    # -- documents --------------------------------------------------------------

    def __call__(self, name: str, doc: Any) -> None:
        """Hand ``(name, doc)`` to the callback of its run's beamtime; never raises for it."""
        run = self._run_of(name, doc)
        self._deliver(run, name, doc)
        if run is None or not isinstance(doc, dict):
            return
        uid = doc.get("uid")
        if name == "start" and not run.headers:
            run.headers.append((name, doc))
        elif name in _HEADERS and isinstance(uid, str):
            run.headers.append((name, doc))
            self._owner[uid] = run.uid
        elif name == "stop":
            self._end(run)

    def _run_of(self, name: str, doc: Any) -> _Run | None:
        """The run ``doc`` belongs to (a start opens one here); None: not known to us."""
        if self._fixed is not None or not isinstance(doc, dict):
            return None
        if name == "start":
            return self._start(doc)
        for key in _OWNERS:
            ref = doc.get(key)
            if isinstance(ref, str) and ref in self._owner:
                return self._runs.get(self._owner[ref])
        return None  # the record beamtime's callback keeps it as rejected, saying why

    def _start(self, doc: dict[str, Any]) -> _Run | None:
        assert self._template is not None and self._unrouted is not None
        uid = doc.get("uid")
        try:
            path = self._template.path(doc)
        except RoutingError as exc:
            self.routing_errors += 1
            path = self._unrouted
            self._note(f"{exc}; stored in {path}", uid)
        if not isinstance(uid, str):
            return None  # the record beamtime's callback rejects it: no uid
        if uid in self._runs:
            return self._runs[uid]  # a second start: its beamtime's callback says so
        run = _Run(uid, path)
        self._runs[uid] = run
        self._owner[uid] = uid
        self._in_flight[path] += 1
        return run

    def _end(self, run: _Run) -> None:
        self._runs.pop(run.uid, None)
        for _, doc in run.headers:
            self._owner.pop(doc.get("uid"), None)
        self._owner.pop(run.uid, None)
        self._in_flight[run.path] -= 1
        if self._in_flight[run.path] <= 0:
            del self._in_flight[run.path]

    def _deliver(self, run: _Run | None, name: str, doc: Any) -> None:
        """Feed the document; on a failure, record it and try the unrouted beamtime once."""
        path = run.path if run is not None else self._record_path()
        for _attempt in range(2):
            try:
                callback = self._beamtimes.get(path)
                if run is not None and not run.live:
                    for header in run.headers:
                        callback(*header)
                    run.live = True
                callback(name, doc)
                return
            except Exception as exc:  # noqa: BLE001 - a message never ends the service
                self._failed(path, exc, run)
                if run is None or path == self._record_path():
                    break
                self._move(run, self._record_path())
                path = run.path
        log.error("%s %s could not be stored anywhere (beamtime %s); it is lost",
                  name, doc.get("uid") if isinstance(doc, dict) else "", path)

    def _move(self, run: _Run, path: Path) -> None:
        """The run goes on in ``path``: its headers are fed there first."""
        self._in_flight[run.path] -= 1
        if self._in_flight[run.path] <= 0:
            del self._in_flight[run.path]
        run.path, run.live = path, False
        self._in_flight[path] += 1

    def _failed(self, path: Path, exc: Exception, run: _Run | None) -> None:
        """Record that ``path`` could not be opened or written, and close it."""
        self.failures += 1
        self._beamtimes.discard(path)
        self._set_aside(path)
        goes = (f"its run {run.uid} goes to {self._record_path()}"
                if run is not None and path != self._record_path() else "")
        self._note(f"beamtime {path} cannot be opened or written: {_reason(exc)}"
                   f"{'; ' + goes if goes else ''}", run.uid if run else None, path)

    def _note(self, reason: str, run_uid: Any, failed: Path | None = None) -> None:
        """One error line, and a ``route`` record in the unrouted beamtime."""
        log.error("%s", reason)
        if failed is not None and failed == self._record_path():
            return  # it is the one that failed: the log line is the record
        self.record("route", {"run_uid": run_uid if isinstance(run_uid, str) else None,
                              "reason": reason}, reason,
                    run_uid if isinstance(run_uid, str) else None)

    def record(self, name: str, doc: Any, reason: str, run_uid: str | None = None) -> None:
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

        A beamtime that fails to commit is recorded and closed (its runs in flight
        go on when their next document comes); this never raises.
        """
        for path, exc in self._beamtimes.flush():
            self._failed(path, exc, None)

    def close(self) -> None:
        """Write everything received, then close every beamtime (open runs stay open)."""
        for path, exc in self._beamtimes.close_all():
            self.failures += 1
            log.error("beamtime %s: closing failed: %s", path, _reason(exc))
