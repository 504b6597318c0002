"""Shared fixtures: a real RunEngine, a beamtime path in tmp_path, document capture."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bluesky import RunEngine
from ophyd.sim import hw

from resonance_callback import RunWriterCallback

from .beamtime_fixture import Recorded, Site, build_site, record_runs
from .postgres_server import PostgresServer, running_postgres
from .replay_corpus import interleaved, kinds, kinds_dump  # noqa: F401  (session fixtures)


@pytest.fixture
def RE() -> Iterator[RunEngine]:
    engine = RunEngine({}, call_returns_result=True)
    yield engine
    if engine.state != "idle":
        engine.halt()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "beamtime.db"


class Captured(list):
    """Every (name, doc) the RunEngine emitted, in order."""

    __hash__ = object.__hash__  # the RunEngine's registry hashes its callbacks

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        self.append((name, doc))

    def of(self, name: str) -> list[dict[str, Any]]:
        return [d for n, d in self if n == name]

    def events(self) -> list[dict[str, Any]]:
        """Events, with event_page rows unpacked."""
        from event_model import unpack_event_page

        out = []
        for name, doc in self:
            if name == "event":
                out.append(doc)
            elif name == "event_page":
                out.extend(unpack_event_page(doc))
        return out


@pytest.fixture
def session(
    RE: RunEngine, db_path: Path
) -> Iterator[tuple[RunEngine, RunWriterCallback, Captured]]:
    """A RunEngine with the callback and a document capture subscribed."""
    captured = Captured()
    callback = RunWriterCallback(db_path)
    RE.subscribe(captured)
    RE.subscribe(callback)
    yield RE, callback, captured
    callback.close()


def sql(db_path: Path, query: str, params: tuple = ()) -> list[tuple]:
    """Run a read-only query with plain sqlite3, as an outside tool would."""
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


# -- the master index: three beamtimes recorded from real RunEngine runs ------------------


@pytest.fixture(scope="session")
def run_engine() -> RunEngine:
    return RunEngine({})


@pytest.fixture(scope="session")
def recorded(run_engine: RunEngine) -> dict[str, list[Recorded]]:
    """The documents of eight real RunEngine runs (ophyd.sim det/motor), per beamtime."""
    return record_runs(run_engine)


@pytest.fixture(scope="session")
def shared_site(recorded: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Three live-indexed beamtimes, shared by tests that only read them."""
    return build_site(tmp_path_factory.mktemp("site"), recorded=recorded)


@pytest.fixture
def site(recorded: dict[str, Any], tmp_path: Path) -> Site:
    """Three live-indexed beamtimes of this test's own, free to modify."""
    return build_site(tmp_path, recorded=recorded)


# -- recording what the RunEngine emits beside what the callback wrote -----------------------


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (tests/postgres_server.py); fails if it cannot."""
    with running_postgres() as server:
        yield server
