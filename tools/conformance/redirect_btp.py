"""bluesky-tiled-plugins' fixtures redirected to us (appended to its ``tests/conftest.py``).

``client``, ``context``, ``app`` and ``catalog`` become a beamtime written by our
callback and served by our app; ``streaming_client`` (a module fixture of
``test_streaming.py``, renamed there by the harness) likewise; ``TiledWriter``
becomes :class:`~tools.conformance.served.CallbackAsTiledWriter`. ``app`` keeps
upstream's parameters (with and without the validator router) so test ids
match; our app has no validator router, so both parameters serve the same app.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bluesky_tiled_plugins.routers.validator import router as validator_router

from tools.conformance.served import ServedBeamtime, install_writer

__all__ = ["app", "catalog", "client", "context", "streaming_client"]

install_writer()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedBeamtime]:
    """A beamtime with our callback and app, for one test module."""
    served = ServedBeamtime(tmp_path_factory.mktemp("beamtime"))
    yield served
    served.close()


@pytest.fixture(scope="module", params=[{}, {"include_routers": [validator_router]}])
def app(catalog: ServedBeamtime) -> Any:
    """Our app (upstream's two parameters kept so test ids match)."""
    return catalog.app


@pytest.fixture(scope="module")
def context(catalog: ServedBeamtime, app: Any) -> Any:
    """The client context of our app."""
    return catalog.context


@pytest.fixture(scope="module")
def client(catalog: ServedBeamtime, context: Any) -> Any:
    """A Tiled client of our app over the module's beamtime."""
    return catalog.client


@pytest.fixture
def streaming_client(tmp_path: Any) -> Iterator[Any]:
    """A Tiled client of our app over a fresh beamtime."""
    served = ServedBeamtime(tmp_path / "beamtime")
    yield served.client
    served.close()
