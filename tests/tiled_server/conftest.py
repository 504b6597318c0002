"""A real Tiled server on 127.0.0.1, in a thread, over what the callback wrote."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from tiled.client import Context, from_context
from tiled.server.simple import ThreadedServer

from resonance_callback import RunWriterCallback
from resonance_callback.tiled_server import build_app

from ..rich_beamtime import RichBeamtime, build_rich_beamtime
from ._browser import Viewed, build_viewed, launched
from ._site import Site, build_site

API_KEY = "secret123"


@contextlib.contextmanager
def serving(path: Path, *, api_key: str | None = API_KEY, public: bool = False,
            app=None) -> Iterator[str]:
    """Serve ``path`` (or ``app``) on a free port of 127.0.0.1; yield the base URL."""
    app = app if app is not None else build_app(path, api_key=api_key, public=public)
    server = ThreadedServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    with server.run_in_thread() as url:
        yield url


@contextlib.contextmanager
def connected(uri: str, **kwargs: Any) -> Iterator[Any]:
    """A Tiled client of ``uri``, as ``from_uri(uri, **kwargs)`` makes it, closed on leaving.

    Closing the client's context closes its HTTP connections; a client left to the garbage
    collector leaves an unclosed socket (a ResourceWarning, an error in this suite). The
    context is made first so that it is closed also when the client is refused (from_uri
    would leave it open)."""
    context, path = Context.from_any_uri(uri, **kwargs)
    with context:
        yield from_context(context, node_path_parts=path)


def stored(db: Path, docs: list[tuple[str, dict[str, Any]]]) -> Path:
    """``db`` with ``docs`` written by our callback (inline, so all is stored on return)."""
    with RunWriterCallback(db, threaded=False) as callback:
        for name, doc in docs:
            callback(name, doc)
    return db


@contextlib.contextmanager
def tiledwriter_catalog(directory: Path, readable: list[Path]) -> Iterator[str]:
    """Serve Tiled's own SQL catalog (what TiledWriter writes into), with the exports
    bluesky-tiled-plugins registers (a run's ``application/json-seq``); yield the URL."""
    import copy

    from bluesky_tiled_plugins.exporters import json_seq_exporter
    from tiled.catalog import from_uri as catalog_from_uri
    from tiled.config import Authentication
    from tiled.media_type_registration import default_serialization_registry
    from tiled.server.app import build_app as tiled_app

    (directory / "data").mkdir(parents=True)
    catalog = catalog_from_uri(directory / "catalog.db", init_if_not_exists=True,
                               writable_storage=[directory / "data",
                                                 f"duckdb:///{directory / 'tables.duckdb'}"],
                               readable_storage=readable)
    registry = copy.deepcopy(default_serialization_registry)
    registry.register("BlueskyRun", "application/json-seq", json_seq_exporter)
    app = tiled_app(catalog, authentication=Authentication(single_user_api_key=API_KEY),
                    serialization_registry=registry)
    with serving(directory, app=app) as url:
        yield url


@pytest.fixture(scope="session")
def rich(tmp_path_factory: pytest.TempPathFactory) -> RichBeamtime:
    return build_rich_beamtime(tmp_path_factory.mktemp("rich-served"))


@pytest.fixture(scope="session")
def served(rich: RichBeamtime) -> Iterator[str]:
    with serving(rich.db) as url:
        yield url


@pytest.fixture
def open_client() -> Iterator[Callable[..., Any]]:
    """``open_client(uri, **kwargs)``: a Tiled client (see :func:`connected`), closed when
    the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda uri, **kwargs: stack.enter_context(connected(uri, **kwargs))


@pytest.fixture
def client(served: str) -> Iterator[Any]:
    with connected(served, api_key=API_KEY) as tiled:
        yield tiled


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A directory of beamtimes (one nested) beside files that are no beamtime."""
    return build_site(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="session")
def site_url(site: Site) -> Iterator[str]:
    with serving(site.root) as url:
        yield url


@pytest.fixture(scope="session")
def viewed(tmp_path_factory: pytest.TempPathFactory) -> Viewed:
    """The beamtime the browser view is tested on (see ``_browser.build_viewed``)."""
    return build_viewed(tmp_path_factory.mktemp("viewed"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (fails, naming it, when it is missing); closed after the module."""
    with launched() as chromium:
        yield chromium


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[str], Any]]:
    """``open_page(url)``: a page of a fresh browser context (its own sessionStorage, UTC),
    at ``url``; the test fails if the page raised a script error."""
    errors: list[str] = []
    with contextlib.ExitStack() as stack:
        def open_one(url: str) -> Any:
            context = browser.new_context(timezone_id="UTC", viewport={"width": 1100,
                                                                        "height": 800})
            stack.callback(context.close)
            context.set_default_timeout(60_000)
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url)
            return page

        yield open_one
    assert not errors, errors
