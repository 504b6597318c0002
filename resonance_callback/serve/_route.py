"""Which beamtime a run goes to: one fixed database, or a template over its start document.

:class:`BeamtimeRouter` is a ``(name, doc)`` callable that hands every document
to the :class:`~resonance_callback.callback.RunWriterCallback` of its run's
beamtime (one callback per database, opened at the first run that goes there
and kept for the life of the service). There is no second write path: rows,
frames and rejected documents are exactly what the in-process callback writes.

With a fixed ``--db`` every document goes to the one callback, which places it
in its run itself. With ``--db-template`` the router follows each document to
its run (``run_start``, ``descriptor``, ``resource``, ``stream_resource``), the
way event-model's ``RunRouter`` does, and forgets a run at its ``stop``.

A run whose start cannot be routed (a key missing, a value that is not a plain
name, a path that would leave the data root) is not dropped: it is stored
whole in the ``unrouted`` beamtime and one error line names the uid and the
key (:class:`~resonance_callback.errors.RoutingError`).
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

from resonance_callback.callback import RunWriterCallback
from resonance_callback.errors import RoutingError
from resonance_callback.index import RunIndexer

__all__ = ["BeamtimeRouter", "DbTemplate"]

log = logging.getLogger("resonance_callback.serve")

#: A value put into a path by the template: a plain name, no separators, not hidden.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+=-]*$")

#: Keys a document names its run by, and the table each looks in.
_OWNERS = ("run_start", "descriptor", "resource", "stream_resource")


class DbTemplate:
    """A beamtime path made from a start document: ``"{beamline}/{proposal_id}.db"``.

    Parameters
    ----------
    template : str
        A :meth:`str.format` template naming top-level keys of the start document.
    root : path-like
        The data root; every path made lies under it.

    Raises
    ------
    ValueError
        If the template names no key, or uses attribute, index or conversion syntax
        (:class:`~resonance_callback.errors.RoutingError`).
    """

    def __init__(self, template: str, root: str | Path) -> None:
        self.template = template
        self.root = Path(root).absolute()
        try:
            fields = [f for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise RoutingError(f"db template {template!r}: {exc}") from exc
        if not fields:
            raise RoutingError(f"db template {template!r} names no key of the start document")
        for name in fields:
            if not name.isidentifier():
                raise RoutingError(f"db template {template!r}: {{{name}}} is not a plain key "
                                   "of the start document")
        if not template.endswith(".db"):
            raise RoutingError(f"db template {template!r} does not end in .db")
        self.keys = fields

    def path(self, start: dict[str, Any]) -> Path:
        """The beamtime database of the run ``start`` opens.

        Raises
        ------
        RoutingError
            A key is missing, its value is not a plain name, or the path leaves the root.
        """
        uid = start.get("uid")
        values = {}
        for key in self.keys:
            if key not in start:
                raise RoutingError(f"run {uid}: db template {self.template!r} needs key "
                                   f"{key!r}, missing from its start document")
            value = start[key]
            text = str(value) if type(value) in (str, int) else None
            if text is None or not _NAME.match(text) or text in (".", ".."):
                raise RoutingError(f"run {uid}: key {key!r} = {value!r} cannot name a path "
                                   f"in db template {self.template!r}")
            values[key] = text
        path = (self.root / self.template.format_map(values)).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise RoutingError(f"run {uid}: db template {self.template!r} gives {path}, "
                               f"outside the data root {self.root}")
        return path


class BeamtimeRouter:
    """Send each run's documents to the callback of its beamtime.

    Parameters
    ----------
    db : path-like or None
        The one beamtime every run goes to; or None with ``template``.
    template : DbTemplate or None
        Make the beamtime path from each start document.
    unrouted : path-like or None
        Where runs the template cannot place go (default ``{root}/unrouted.db``).
    make_callback : callable, optional
        ``make_callback(db_path) -> RunWriterCallback``; by default one with
        the callback's defaults (and ``indexer`` if given).
    indexer : callable, optional
        ``indexer(db_path) -> RunIndexer``: keep the master index current.
    """

    def __init__(self, db: str | Path | None = None, *, template: DbTemplate | None = None,
                 unrouted: str | Path | None = None,
                 make_callback: Callable[..., RunWriterCallback] | None = None,
                 indexer: Callable[[Path], RunIndexer] | None = None) -> None:
        if (db is None) == (template is None):
            raise RoutingError("give one of a fixed beamtime database or a db template")
        self._fixed = None if db is None else Path(db).absolute()
        self._template = template
        if unrouted is None and template is not None:
            unrouted = template.root / "unrouted.db"
        self._unrouted = None if unrouted is None else Path(unrouted).absolute()
        self._make = make_callback or RunWriterCallback
        self._indexer = indexer
        self.callbacks: dict[Path, RunWriterCallback] = {}
        self._owner: dict[str, RunWriterCallback] = {}  # run/descriptor/resource uid -> cb
        self._runs_of: dict[str, list[str]] = {}  # run uid -> uids that point at it
        self.routing_errors = 0
        if self._fixed is not None:
            self._open(self._fixed)

    def _open(self, path: Path) -> RunWriterCallback:
        callback = self.callbacks.get(path)
        if callback is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if self._indexer is None:
                callback = self._make(path)
            else:
                callback = self._make(path, index=self._indexer(path))
            self.callbacks[path] = callback
            log.info("beamtime %s opened", path)
        return callback

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        """Hand ``(name, doc)`` to the callback of its run's beamtime."""
        self.callback_for(name, doc)(name, doc)

    def callback_for(self, name: str, doc: Any) -> RunWriterCallback:
        """The callback ``(name, doc)`` goes to (a start opens its run here)."""
        if self._fixed is not None:
            return self.callbacks[self._fixed]
        if not isinstance(doc, dict):
            return self._open(self._unrouted_path())
        if name == "start":
            return self._start(doc)
        owner = None
        for key in _OWNERS:
            ref = doc.get(key)
            if isinstance(ref, str) and ref in self._owner:
                owner = self._owner[ref]
                break
        if owner is None:  # unknown to us: the callback keeps it as rejected, saying why
            return self._open(self._unrouted_path())
        uid = doc.get("uid")
        if name in ("descriptor", "resource", "stream_resource") and isinstance(uid, str):
            self._owner[uid] = owner
            run = doc.get("run_start")
            if isinstance(run, str):
                self._runs_of.setdefault(run, []).append(uid)
        elif name == "stop" and isinstance(doc.get("run_start"), str):
            run = doc["run_start"]
            for ref in self._runs_of.pop(run, []):
                self._owner.pop(ref, None)
            self._owner.pop(run, None)
        return owner

    def _start(self, doc: dict[str, Any]) -> RunWriterCallback:
        assert self._template is not None
        try:
            callback = self._open(self._template.path(doc))
        except RoutingError as exc:
            self.routing_errors += 1
            log.error("%s; stored in %s", exc, self._unrouted_path())
            callback = self._open(self._unrouted_path())
        uid = doc.get("uid")
        if isinstance(uid, str):
            self._owner[uid] = callback
            self._runs_of.setdefault(uid, [])
        return callback

    def _unrouted_path(self) -> Path:
        assert self._unrouted is not None
        return self._unrouted

    def flush(self) -> None:
        """Wait until everything handed over so far is written and committed."""
        for callback in list(self.callbacks.values()):
            callback.flush()

    def close(self) -> None:
        """Write everything received, then close every beamtime (open runs stay open)."""
        errors = []
        for callback in self.callbacks.values():
            try:
                callback.close()
            except Exception as exc:  # noqa: BLE001 - close the others, then raise
                errors.append(exc)
        if errors:
            raise errors[0]
