"""Which run a document belongs to, and which runs are still open, in stream order.

A bus that redelivers from an acknowledgement point (a JetStream ack floor, a Kafka
committed offset) can start in the middle of a run whose ``start`` and
descriptors were acknowledged long ago. The recovery scans follow the documents
before that point with :class:`RunOwners` to find the runs still open there and
which later documents are theirs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REFS", "RunOwners"]

#: Keys that tie a document to its run (directly, or through a descriptor or resource).
REFS = ("run_start", "descriptor", "resource", "stream_resource")

#: Documents whose uid other documents refer to.
_PARENTS = ("descriptor", "resource", "stream_resource")


class RunOwners:
    """Follow documents in order: the run each belongs to, and the runs not yet stopped.

    Attributes
    ----------
    open_runs : dict of str to int
        Run uid -> the position (sequence or offset) of its ``start``, for the
        runs started and not stopped so far.
    """

    def __init__(self) -> None:
        self.open_runs: dict[str, int] = {}
        self._owner: dict[str, str] = {}
        self._children: dict[str, list[str]] = {}  # run -> uids owned through it

    def run_of(self, name: str, doc: object) -> str | None:
        """The uid of the run ``doc`` belongs to, if a document seen so far says."""
        if not isinstance(doc, dict):
            return None
        if name == "start":
            uid = doc.get("uid")
            return uid if isinstance(uid, str) else None
        return next((self._owner[doc[k]] for k in REFS if isinstance(doc.get(k), str)
                     and doc[k] in self._owner), None)

    def follow(self, name: str, doc: Any, position: int) -> str | None:
        """Note ``doc`` (at ``position``); return the run it belongs to, if known."""
        if not isinstance(doc, dict):
            return None
        if name == "start" and isinstance(doc.get("uid"), str):
            uid = str(doc["uid"])
            self.open_runs[uid] = position
            self._owner[uid] = uid
            self._children[uid] = [uid]
            return uid
        run = self.run_of(name, doc)
        if run is None:
            return None
        if name == "stop":  # a stopped run's documents are forgotten: memory follows open runs
            self.open_runs.pop(run, None)
            for uid in self._children.pop(run, ()):
                self._owner.pop(uid, None)
        elif name in _PARENTS and isinstance(doc.get("uid"), str):
            self._owner[doc["uid"]] = run
            self._children.setdefault(run, []).append(doc["uid"])
        return run
