"""The beamtimes the service holds open: a bounded, least-recently-used set.

Each open beamtime costs a :class:`~resonance_callback.callback.RunWriterCallback`:
its writer thread, its SQLite connection and the Zarr store's descriptors. With
``--db-template`` every distinct routing value is a beamtime, so they are held in
a least-recently-used set of at most ``max_open``: opening one more closes the
least recently used beamtime with no run in flight (cleanly: everything it was
handed is committed), or, when every open beamtime has runs in flight, the least
recently used one anyway; the router feeds the runs it had in flight again when
they next need it (:class:`~resonance_callback.serve.BeamtimeRouter`).

:func:`ServiceCallback` makes the callback of one beamtime, writing on the
service's worker thread; :func:`record_into` keeps a message the service could
not route or read as a rejected document with its reason
(:meth:`RunWriterCallback.record_rejected`, in the unrouted beamtime as a rule).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from resonance_callback.callback import RunWriterCallback

__all__ = ["DEFAULT_MAX_OPEN", "OpenBeamtimes", "ServiceCallback", "record_into"]

log = logging.getLogger("resonance_callback.serve")

#: The default bound on beamtimes open at once (``--max-open-beamtimes``).
DEFAULT_MAX_OPEN = 32


def ServiceCallback(path: Path, **options: Any) -> RunWriterCallback:  # noqa: N802 - its old name
    """The callback of one beamtime of the service: it writes on the service's worker thread.

    The service hands documents to the callbacks on one worker thread, in order;
    that thread is the writer's (``threaded=False``), so no second queue and
    thread stand between the service and the database. ``options`` are
    :class:`RunWriterCallback`'s.
    """
    return RunWriterCallback(path, **{"threaded": False, **options})


def record_into(callback: RunWriterCallback, name: str, doc: object, reason: str,
                run_uid: str | None = None) -> None:
    """Record ``doc`` as rejected in ``callback``'s beamtime, with ``reason`` (one warning line).

    Parameters
    ----------
    callback : RunWriterCallback
        The beamtime's callback.
    name : str
        What arrived (a document name, or ``"message"`` for one that could not be read).
    doc : object
        What is kept of it (a dict; anything else is kept as its ``repr``).
    reason : str
        Why it was not stored as it came.
    run_uid : str or None, optional
        The run it belongs to, if known.
    """
    callback.record_rejected(name, doc, reason, run_uid)


class OpenBeamtimes:
    """At most ``max_open`` beamtimes open; the least recently used ones closed first.

    Parameters
    ----------
    make : callable
        ``make(path) -> RunWriterCallback``: open a beamtime (may raise).
    max_open : int, optional
        Beamtimes open at once at most.
    busy : callable, optional
        ``busy(path) -> bool``: the beamtime has runs in flight (closed last).
    on_close : callable, optional
        ``on_close(path, exc)``: called once a beamtime is closed to make room
        (``exc``: what closing it raised, or None).
    """

    def __init__(self, make: Callable[[Path], RunWriterCallback], max_open: int = DEFAULT_MAX_OPEN,
                 busy: Callable[[Path], bool] | None = None,
                 on_close: Callable[[Path, Exception | None], None] | None = None) -> None:
        if max_open < 1:
            raise ValueError(f"max_open is {max_open}, not a positive number of beamtimes")
        self._make = make
        self.max_open = max_open
        self._busy = busy or (lambda path: False)
        self._on_close = on_close or (lambda path, exc: None)
        self._open: OrderedDict[Path, RunWriterCallback] = OrderedDict()
        self.opened = 0
        self.closed = 0

    def __len__(self) -> int:
        return len(self._open)

    def __contains__(self, path: object) -> bool:
        return path in self._open

    def paths(self) -> list[Path]:
        """The beamtimes open now, least recently used first."""
        return list(self._open)

    def get(self, path: Path) -> RunWriterCallback:
        """The callback of ``path``, opened (making room) if it is not open.

        Raises
        ------
        Exception
            Whatever opening the beamtime raised (nothing is left open then).
        """
        callback = self._open.get(path)
        if callback is not None:
            self._open.move_to_end(path)
            return callback
        while len(self._open) >= self.max_open:
            self._evict()
        callback = self._make(path)
        self._open[path] = callback
        self.opened += 1
        log.info("beamtime %s opened", path)
        return callback

    def _evict(self) -> None:
        victim = next((p for p in self._open if not self._busy(p)), None)
        if victim is None:
            victim = next(iter(self._open))
            log.warning("beamtime %s closed with runs in flight: more than %d beamtimes have "
                        "runs in flight (--max-open-beamtimes); they go on when it reopens",
                        victim, self.max_open)
        try:
            self.close(victim)
        except Exception as exc:  # noqa: BLE001 - the owner records it; room is made anyway
            self._on_close(victim, exc)
        else:
            self._on_close(victim, None)

    def close(self, path: Path) -> None:
        """Close ``path``'s beamtime, committing what it holds; raises what closing raised."""
        callback = self._open.pop(path, None)
        if callback is None:
            return
        self.closed += 1
        callback.close()
        log.debug("beamtime %s closed", path)

    def discard(self, path: Path) -> None:
        """Forget ``path``'s beamtime after a failure: close it, reporting (not raising) errors."""
        try:
            self.close(path)
        except Exception as exc:  # noqa: BLE001 - it failed already; the first failure is recorded
            log.debug("closing beamtime %s after its failure: %s", path, exc)

    def flush(self) -> list[tuple[Path, Exception]]:
        """Commit every open beamtime; the ones that failed, with their error."""
        failed = []
        for path, callback in list(self._open.items()):
            try:
                callback.flush()
            except Exception as exc:  # noqa: BLE001 - the router records it and goes on
                failed.append((path, exc))
        return failed

    def close_all(self) -> list[tuple[Path, Exception]]:
        """Close every open beamtime; the ones that failed, with their error."""
        failed = []
        for path in list(self._open):
            try:
                self.close(path)
            except Exception as exc:  # noqa: BLE001 - close the others
                failed.append((path, exc))
        return failed
