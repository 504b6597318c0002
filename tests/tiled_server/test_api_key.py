"""With --api-key, every route of the app answers 401 without the key: Tiled's Zarr routes too."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from starlette.routing import Mount
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from resonance_callback.errors import ServerConfigError
from resonance_callback.tiled_server import build_app
from resonance_callback.tiled_server._auth import PUBLIC_PATHS
from resonance_callback.tiled_server._view import REDIRECTS

from .conftest import API_KEY, serving


def _routes(routes: list, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (path template, method) of an app, through included routers and mounts."""
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            yield from _routes(route.original_router.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Mount):
            yield prefix + route.path + "/{rest:path}", "GET"
        elif not getattr(route, "methods", None):
            yield prefix + route.path, "WEBSOCKET"
        else:
            for method in route.methods:
                yield prefix + route.path, method


def _url(template: str, node: str) -> str:
    """The template with its parameters filled so that, let through, it would serve ``node``."""
    def fill(match: re.Match[str]) -> str:
        return {"path": f"/{node}/", "block": "0/0/0"}.get(match.group(1), "x")

    return re.sub(r"/{2,}", "/", re.sub(r"\{(\w+)(?::\w+)?\}", fill, template))


def test_every_route_but_health_the_servers_description_and_the_view_answers_401_without_key(
        rich, served) -> None:
    app = build_app(rich.db, api_key=API_KEY)
    routes = sorted(set(_routes(app.routes)))
    assert ("/zarr/v3/{path:path}/c/{block:path}", "GET") in routes  # the routes are all seen
    assert ("/api/v1/stream/single/{path:path}", "WEBSOCKET") in routes
    node = f"{rich.scan}/primary/img"
    refused = []
    with httpx.Client(base_url=served, timeout=60) as client:
        for template, method in routes:
            url = _url(template, node)
            if template in PUBLIC_PATHS or template in REDIRECTS:
                continue  # REDIRECTS: Tiled's "/" is answered by the view's redirect
            if method == "WEBSOCKET":
                ws_url = served.replace("http://", "ws://").rstrip("/") + url
                with pytest.raises(InvalidStatus) as info:
                    connect(ws_url, open_timeout=30).close()
                status = info.value.response.status_code
            else:
                status = client.request(method, url).status_code
            refused.append((method, url, status))
    assert refused and all(status == 401 for _, _, status in refused), [
        r for r in refused if r[2] != 401]


def test_the_public_paths_are_health_and_the_servers_description_only(served) -> None:
    assert PUBLIC_PATHS == {"/healthz", "/api/v1/"}
    about = httpx.get(served.rstrip("/") + "/api/v1/", timeout=60)
    assert about.status_code == 200
    assert "data" not in about.json() and "metadata" not in about.json()


@pytest.mark.parametrize("route", ["/zarr/v2/", "/zarr/v3/", "/zarr/v2/{scan}/primary/img/.zarray",
                                   "/zarr/v3/{scan}/primary/img/c/0/0/0", "/api/v1/metrics"])
def test_zarr_routes_list_runs_and_give_chunks_only_with_the_key(rich, served, route) -> None:
    url = served.rstrip("/") + route.format(scan=rich.scan)
    assert httpx.get(url, timeout=60).status_code == 401
    assert httpx.get(url, params={"api_key": "wrong1"}, timeout=60).status_code == 401
    with_key = httpx.get(url, headers={"Authorization": f"Apikey {API_KEY}"}, timeout=60)
    assert with_key.status_code == 200
    if route == "/zarr/v2/":
        assert any(rich.scan in entry for entry in with_key.json())


def test_the_key_is_taken_from_the_header_the_query_or_tileds_cookie(served) -> None:
    url = served.rstrip("/") + "/api/v1/metadata/"
    assert httpx.get(url, params={"api_key": API_KEY}, timeout=60).status_code == 200
    assert httpx.get(url, cookies={"tiled_api_key": API_KEY}, timeout=60).status_code == 200
    assert httpx.get(url, cookies={"tiled_api_key": "wrong1"}, timeout=60).status_code == 401


def test_public_serves_the_zarr_routes_without_a_key(rich, open_client) -> None:
    with serving(rich.db, api_key=None, public=True) as url:
        assert httpx.get(url.rstrip("/") + "/zarr/v2/", timeout=60).status_code == 200
        assert rich.scan in list(open_client(url))


@pytest.mark.parametrize(("api_key", "public"), [(None, False), (API_KEY, True), ("a-b", False)])
def test_an_app_needs_exactly_one_of_a_key_of_letters_and_digits_and_public(
        rich, api_key, public) -> None:
    with pytest.raises(ServerConfigError, match="API key|--public"):
        build_app(rich.db, api_key=api_key, public=public)
