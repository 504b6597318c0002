"""Shared fixtures: a real RunEngine, a beamtime path in tmp_path, document capture."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bluesky import RunEngine

from resonance_callback import RunWriterCallback

from .beamtime_fixture import Recorded, Site, build_site, record_runs
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
