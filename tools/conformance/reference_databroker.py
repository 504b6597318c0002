"""databroker's broker fixtures for the TiledWriter run (appended to its conftest).

Upstream parametrizes ``db`` over four backends (two need a MongoDB server) and
``c`` is a mongomock-backed Tiled server. The reference here is upstream's own
``sqlite-tiled`` backend for all of them: TiledWriter into a Tiled SQLite
catalog, read through Tiled, which is what ours is compared with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from databroker.tests.utils import build_tiled_sqlite_backed_broker

__all__ = ["broker_factory", "c", "db", "db_empty"]


@pytest.fixture(params=["sqlite-tiled"], scope="module")
def db(request: pytest.FixtureRequest) -> Any:
    """Upstream's sqlite-tiled Broker, for one test module."""
    return build_tiled_sqlite_backed_broker(request)


@pytest.fixture
def c(request: pytest.FixtureRequest) -> Any:
    """Upstream's sqlite-tiled catalog, as a v2 client."""
    return build_tiled_sqlite_backed_broker(request).v2


@pytest.fixture(params=["sqlite-tiled"], scope="function")
def db_empty(request: pytest.FixtureRequest) -> Any:
    """Upstream's sqlite-tiled Broker, fresh."""
    return build_tiled_sqlite_backed_broker(request)


@pytest.fixture(params=["sqlite-tiled"], scope="function")
def broker_factory(request: pytest.FixtureRequest) -> Callable[[], Any]:
    """Makes upstream's sqlite-tiled Brokers."""
    return lambda: build_tiled_sqlite_backed_broker(request)
