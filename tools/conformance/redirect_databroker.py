"""databroker's broker fixtures redirected to us (appended to ``databroker/tests/conftest.py``).

``db``, ``db_empty``, ``broker_factory`` and ``c`` become clients of our app over
a beamtime written by our callback: ``Broker.insert`` (which uses
``bluesky_tiled_plugins.TiledWriter`` for a SQL catalog, as ours reports being)
reaches :class:`~tools.conformance.served.CallbackAsTiledWriter`. The backend's
parameter id is ``resonance`` (``sqlite-tiled`` in the TiledWriter run); the
table puts both under ``db``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tools.conformance.served import ServedBeamtime, install_writer

__all__ = ["broker_factory", "c", "db", "db_empty"]

install_writer()


def _served_broker(request: pytest.FixtureRequest) -> Any:
    directory = tempfile.TemporaryDirectory()
    served = ServedBeamtime(Path(directory.name))

    def teardown() -> None:
        served.close()
        directory.cleanup()

    request.addfinalizer(teardown)
    return served.client.v1


@pytest.fixture(params=["resonance"], scope="module")
def db(request: pytest.FixtureRequest) -> Any:
    """A v1 Broker over our app, for one test module."""
    return _served_broker(request)


@pytest.fixture
def c(request: pytest.FixtureRequest) -> Any:
    """A v2 catalog client over our app and a fresh beamtime."""
    return _served_broker(request).v2


@pytest.fixture(params=["resonance"], scope="function")
def db_empty(request: pytest.FixtureRequest) -> Any:
    """A v1 Broker over our app and a fresh beamtime."""
    return _served_broker(request)


@pytest.fixture(params=["resonance"], scope="function")
def broker_factory(request: pytest.FixtureRequest) -> Callable[[], Any]:
    """Makes v1 Brokers over our app, each over a fresh beamtime."""
    return lambda: _served_broker(request)
