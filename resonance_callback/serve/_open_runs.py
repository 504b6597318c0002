"""Which runs are open in a stream, and where what each needs to go on lies.

A bus that redelivers from an acknowledgement point (a JetStream ack floor or
recorded position, a Kafka committed offset) can start in the middle of a run
whose ``start`` and descriptors were acknowledged long ago. :class:`OpenRuns`
follows documents in stream order: the run each belongs to (through its
descriptor or resource), the runs not yet stopped, and the positions of each
one's ``start``, descriptors, resources, stream resources and latest datums.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DATUMS_KEPT", "OpenRuns", "Position"]

#: Datums kept per open run (an event after a commit may name one from before it).
DATUMS_KEPT = 64

_REFS = ("run_start", "descriptor", "resource", "stream_resource")
_HEADERS = frozenset({"descriptor", "resource", "stream_resource"})
_DATUMS = frozenset({"datum", "datum_page"})


@dataclass
class _Run:
    start: int
    headers: list[int] = field(default_factory=list)
    datums: deque[int] = field(default_factory=lambda: deque(maxlen=DATUMS_KEPT))
    owned: list[str] = field(default_factory=list)  # uids that name this run


@dataclass
class Position:
    """Everything up to stream sequence ``seq`` is committed; ``runs`` are open there."""

    seq: int
    runs: dict[str, list[int]]  # run uid -> sequences of its start, headers, datums
    created: str = ""  # the stream's and consumer's creation: either made again starts anew

    def sequences(self) -> list[int]:
        """The stream sequences of every open run's headers, in stream order."""
        return sorted({s for seqs in self.runs.values() for s in seqs})


class OpenRuns:
    """Which runs are open, and the sequences of what each needs to go on."""

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._owner: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._runs)

    def run_of(self, name: str, doc: object) -> str | None:
        """The run ``doc`` belongs to, if followed."""
        if not isinstance(doc, dict):
            return None
        if name == "start":
            uid = doc.get("uid")
            return uid if isinstance(uid, str) else None
        for key in _REFS:
            ref = doc.get(key)
            if isinstance(ref, str) and ref in self._owner:
                return self._owner[ref]
        return None

    def see(self, seq: int, name: str, doc: object) -> None:
        """Follow one document (stream sequence ``seq``)."""
        if not isinstance(doc, dict):
            return
        if name == "start":
            uid = doc.get("uid")
            if isinstance(uid, str) and uid not in self._runs:
                self._runs[uid] = _Run(seq, owned=[uid])
                self._owner[uid] = uid
            return
        if name in ("event", "event_page"):  # the most frequent: nothing to follow
            return
        uid = self.run_of(name, doc)
        run = self._runs.get(uid) if uid is not None else None
        if run is None or uid is None:
            return
        if name == "stop":
            del self._runs[uid]
            for owned in run.owned:
                self._owner.pop(owned, None)
        elif name in _HEADERS:
            run.headers.append(seq)
            own = doc.get("uid")
            if isinstance(own, str):
                self._owner[own] = uid
                run.owned.append(own)
        elif name in _DATUMS:
            run.datums.append(seq)

    def starts(self) -> dict[str, int]:
        """Each open run's uid and the position of its ``start``."""
        return {uid: run.start for uid, run in self._runs.items()}

    def position(self, seq: int, created: str) -> Position:
        """A record of the runs open once everything up to ``seq`` is followed."""
        return Position(seq, {uid: [r.start, *r.headers, *r.datums]
                              for uid, r in self._runs.items()}, created)

    @classmethod
    def at(cls, position: Position, docs: Mapping[int, tuple[str, object]]) -> OpenRuns:
        """The runs of ``position``, their headers' documents read back (``docs`` by sequence)."""
        runs = cls()
        for seq in position.sequences():
            if seq in docs:
                runs.see(seq, *docs[seq])
        return runs
