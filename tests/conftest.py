from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from beamtime_fixture import Recorded, Site, build_site, record_runs
from bluesky import RunEngine


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
