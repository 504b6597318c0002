"""The runs the router follows: which beamtime each goes to, and what it needs to go on.

A :class:`RunBook` knows, per run in flight, its beamtime and its headers
(``start``, descriptors, resources: what a reopened beamtime's callback is fed
again before the run's next document), which documents name it (``run_start``,
``descriptor``, ``resource``, ``stream_resource``), and how many runs keep each
beamtime busy. A stopped run is forgotten once its stop is committed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HEADERS", "Run", "RunBook"]

#: Keys a document names its owner by.
_OWNERS = ("run_start", "descriptor", "resource", "stream_resource")

#: Documents a run needs again when its beamtime is reopened mid-run.
HEADERS = ("descriptor", "resource", "stream_resource")


@dataclass
class Run:
    """A run in flight: its beamtime, and what to feed again if that is reopened."""

    uid: str
    path: Path
    headers: list[tuple[str, Mapping[str, object]]] = field(default_factory=list)
    live: bool = True  # False: its beamtime was closed since; feed the headers first
    stopped: bool = False  # its stop was handed over; forgotten once that is committed
    skip: set[int] = field(default_factory=set)  # ids of headers fed again by a replay anyway


class RunBook:
    """Runs in flight, the documents that name them, and the beamtimes they keep busy."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self._owner: dict[str, str] = {}  # run/descriptor/resource uid -> run uid
        self._in_flight: Counter[Path] = Counter()  # runs not stopped, per beamtime

    def busy(self, path: Path) -> bool:
        """Runs not stopped go to ``path``."""
        return self._in_flight[path] > 0

    def of(self, doc: Mapping[str, object]) -> Run | None:
        """The run a (non-start) document names; None: not known."""
        for key in _OWNERS:
            ref = doc.get(key)
            if isinstance(ref, str) and ref in self._owner:
                return self.runs.get(self._owner[ref])
        return None

    def start(self, uid: str, path: Path) -> Run:
        """A run starts, going to ``path`` (the same run if its uid is known)."""
        if uid in self.runs:
            return self.runs[uid]  # a second start: its beamtime's callback says so
        run = Run(uid, path)
        self.runs[uid] = run
        self._owner[uid] = uid
        self._in_flight[path] += 1
        return run

    def handed(self, run: Run, name: str, doc: Mapping[str, object]) -> None:
        """``doc`` of ``run`` was handed over: keep it as a header, or note the stop."""
        uid = doc.get("uid")
        if name == "start" and not run.headers:
            run.headers.append((name, doc))
        elif name in HEADERS and isinstance(uid, str):
            run.headers.append((name, doc))
            self._owner[uid] = run.uid
        elif name == "stop" and not run.stopped:
            run.stopped = True
            self._drop(run)

    def _drop(self, run: Run) -> None:
        self._in_flight[run.path] -= 1
        if self._in_flight[run.path] <= 0:
            del self._in_flight[run.path]

    def move(self, run: Run, path: Path) -> None:
        """The run goes on in ``path``: its headers are fed there first."""
        if not run.stopped:
            self._drop(run)
            self._in_flight[path] += 1
        run.path, run.live = path, False

    def set_aside(self, path: Path) -> None:
        """``path`` was closed: its runs in flight get their headers again when they go on."""
        for run in self.runs.values():
            if run.path == path:
                run.live = False

    def committed(self, path: Path) -> None:
        """Everything handed to ``path`` is committed: forget its stopped runs."""
        for run in [r for r in self.runs.values() if r.path == path and r.stopped]:
            self.runs.pop(run.uid, None)
            for _, doc in run.headers:
                uid = doc.get("uid")
                if isinstance(uid, str):
                    self._owner.pop(uid, None)
            self._owner.pop(run.uid, None)
