"""A run's documents as the RunEngine emits them, with one hostile document among them.

Every case of the hostile suite is the same run: a start, a ``primary``
descriptor, a good event (seq_num 1), the hostile document(s), a good event
(seq_num 3), a stop. :func:`feed_live` hands it to a real
:class:`RunWriterCallback`; :func:`feed_replay` saves it as JSON lines and
replays the file. :func:`outcome` reads back what the beamtime holds.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from resonance_callback import RunWriterCallback, jsoncodec, open_beamtime
from resonance_callback.replay import replay

Doc = tuple[str, dict[str, Any]]


def uid() -> str:
    return str(uuid.uuid4())


class Stream:
    """The documents of one run, built by hand (hostile ones pass no schema)."""

    def __init__(self, **start: Any) -> None:
        self.start = {"uid": uid(), "time": 1.0, "plan_name": "count", "scan_id": 1,
                      **start}
        for key in [k for k, v in start.items() if v is ...]:  # ``key=...``: left out
            del self.start[key]
        self.descriptor = {
            "uid": uid(), "run_start": self.start["uid"], "name": "primary", "time": 1.0,
            "data_keys": {"x": {"dtype": "number", "shape": [], "source": "sim:x"},
                          "img": {"dtype": "array", "shape": [2, 2], "source": "sim:img"}},
            "configuration": {}, "object_keys": {"det": ["x", "img"]},
        }
        self.stop = {"uid": uid(), "run_start": self.start["uid"], "time": 9.0,
                     "exit_status": "success", "reason": "", "num_events": {"primary": 2}}
        self.first = self.event(1)
        self.last = self.event(3, x=3.0)
        self.earlier = Stream.__new__(Stream)  # an earlier run, fed first when a case asks
        self.earlier.start = {"uid": uid(), "time": 0.5, "plan_name": "count", "scan_id": 0}
        self.earlier.descriptor = {**self.descriptor, "uid": uid(),
                                   "run_start": self.earlier.start["uid"]}
        self.earlier.stop = {**self.stop, "uid": uid(), "run_start": self.earlier.start["uid"]}

    def earlier_run(self) -> list[Doc]:
        e = self.earlier
        return [("start", e.start), ("descriptor", e.descriptor), ("stop", e.stop)]

    def stream(self, name: str = "other", key: str = "img", **data_key: Any) -> dict[str, Any]:
        """A second descriptor of this run, with one 2x2 frame key."""
        return {"uid": uid(), "run_start": self.start["uid"], "name": name, "time": 1.0,
                "data_keys": {key: {"dtype": "array", "shape": [2, 2], "source": "s",
                                    **data_key}}, "configuration": {}}

    def event_of(self, descriptor: dict[str, Any], data: dict[str, Any],
                 seq_num: int = 1) -> dict[str, Any]:
        """An event of another descriptor."""
        return {"uid": uid(), "descriptor": descriptor["uid"], "time": 1.5, "seq_num": seq_num,
                "data": data, "timestamps": dict.fromkeys(data, 1.0), "filled": {}}

    def event(self, seq_num: Any, x: Any = 1.0, **overrides: Any) -> dict[str, Any]:
        """A good event of the primary stream, unless ``overrides`` say otherwise."""
        return {"uid": uid(), "descriptor": self.descriptor["uid"], "time": 1.0 + seq_num
                if isinstance(seq_num, int) else 2.0, "seq_num": seq_num,
                "data": {"x": x, "img": np.full((2, 2), 7, dtype=np.uint16)},
                "timestamps": {"x": 1.0, "img": 1.0}, "filled": {}, **overrides}

    def documents(self, bad: list[Doc], earlier: bool = False) -> list[Doc]:
        return [*(self.earlier_run() if earlier else []),
                ("start", self.start), ("descriptor", self.descriptor), ("event", self.first),
                *bad, ("event", self.last), ("stop", self.stop)]


@dataclass
class Case:
    """One hostile case: what to send, and what the beamtime must say about it."""

    id: str
    kind: str  # order, identity, values, encodings, names, shapes, json, sizes
    bad: Callable[[Stream], list[Doc]]
    rejected: str | None = None  # a word the rejection's reason holds; None: stored
    start: dict[str, Any] = field(default_factory=dict)
    check: Callable[[Any, Stream], None] | None = None  # more to assert on the run
    replay: bool = True  # False: JSON cannot carry it (noted at the case)
    earlier: bool = False  # an earlier run is stored first
    run_lost: bool = False  # the start cannot be stored: every document of the run rejected


def feed_live(db: Path, docs: list[Doc]) -> None:
    """Feed the documents to a real callback as the RunEngine does; nothing may raise."""
    with RunWriterCallback(db) as callback:
        for name, doc in docs:
            callback(name, doc)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def save_jsonl(path: Path, docs: list[Doc]) -> Path:
    """The stream as JSON lines of ``[name, doc]`` (as suitcase-jsonl writes them)."""
    with path.open("w", encoding="utf-8", errors="surrogatepass") as f:
        for name, doc in docs:
            f.write(json.dumps([name, doc], default=_plain) + "\n")
    return path


def feed_replay(db: Path, docs: list[Doc], tmp: Path) -> None:
    """Save the stream to a file and replay it; nothing may raise."""
    replay(save_jsonl(tmp / "stream.jsonl", docs), db)


@dataclass
class Outcome:
    db: Path
    exit_status: str | None
    stop_rejected: bool
    event_uids: list[str]
    event_docs: dict[str, dict[str, Any]]
    frames: int
    rejected: list[tuple[str, str, Any]]  # (name, reason, document)
    start: dict[str, Any] | None


def outcome(db: Path, run_uid: str, stop_uid: str = "") -> Outcome:
    """What the beamtime holds of the run, and every rejected document."""
    with open_beamtime(db) as bt:
        rejected = [(name, reason, jsoncodec.loads(doc)) for name, reason, doc in bt.query(
            "SELECT name, reason, document FROM rejected_documents ORDER BY id")]
        stop_rejected = any(name == "stop" and isinstance(doc, dict) and doc.get("uid") == stop_uid
                            for name, _, doc in rejected)
        if run_uid not in bt:
            return Outcome(db, None, stop_rejected, [], {}, 0, rejected, None)
        run = bt[run_uid]
        events = {doc["uid"]: doc for name, doc in run.documents() if name == "event"}
        frames = bt.query("SELECT COUNT(*) FROM image_refs")[0][0]
        return Outcome(db, run.exit_status, stop_rejected,
                       list(events), events, frames, rejected, run.start)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


NAN = math.nan
