"""Shared fixtures: a real RunEngine, fresh ophyd.sim hardware, and a recorder.

The recorder subscribes two callbacks to the RunEngine: one that keeps a deep
copy of every document emitted, and a :class:`RunWriterCallback` writing to a
beamtime in ``tmp_path``, so tests compare what was emitted with what is read back.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bluesky import RunEngine
from ophyd.sim import hw

from resonance_callback import RunWriterCallback

sys.path.insert(0, str(Path(__file__).parent))


@dataclass
class Recording:
    """What one recorder saw: the beamtime written and the documents emitted."""

    db: Path
    docs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    callback: RunWriterCallback | None = None

    @property
    def zarr(self) -> Path:
        return self.db.with_suffix(".zarr")

    def run_uids(self) -> list[str]:
        return [doc["uid"] for name, doc in self.docs if name == "start"]

    def run_docs(self, uid: str) -> list[tuple[str, dict[str, Any]]]:
        """The documents of one run, in emission order."""
        descriptors: set[str] = set()
        resources: set[str] = set()
        out = []
        for name, doc in self.docs:
            if name == "descriptor" and doc["run_start"] == uid:
                descriptors.add(doc["uid"])
            if name in ("resource", "stream_resource") and doc.get("run_start") == uid:
                resources.add(doc["uid"])
            owner = (doc.get("run_start") == uid or doc.get("uid") == uid and name == "start"
                     or doc.get("descriptor") in descriptors
                     or doc.get("resource") in resources
                     or doc.get("stream_resource") in resources)
            if owner:
                out.append((name, doc))
        return out


@pytest.fixture
def RE() -> Iterator[RunEngine]:  # noqa: N802 - the conventional name
    engine = RunEngine({})
    yield engine
    if engine.state != "idle":
        engine.halt()


@pytest.fixture
def sim(tmp_path: Path) -> dict[str, Any]:
    """Fresh ophyd.sim devices (``hw()``), so configuring one never leaks between tests."""
    (tmp_path / "npy").mkdir()
    return {**vars(hw(save_path=str(tmp_path / "npy"))), "tmp_path": tmp_path}


@pytest.fixture
def recorder(tmp_path: Path, RE: RunEngine) -> Iterator[Recording]:  # noqa: N803
    """Record everything ``RE`` emits, and write it to ``tmp_path/bt.db``."""
    recording = Recording(tmp_path / "bt.db")
    recording.callback = RunWriterCallback(recording.db, commit_interval=0.2)
    tokens = [RE.subscribe(lambda n, d: recording.docs.append((n, copy.deepcopy(d)))),
              RE.subscribe(recording.callback)]
    try:
        yield recording
    finally:
        for token in tokens:
            RE.unsubscribe(token)
        recording.callback.close()
