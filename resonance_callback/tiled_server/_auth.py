"""One check in front of every route: without the API key, the answer is 401.

Tiled checks its single-user API key route by route, and some of its routes
(the Zarr ones, ``/zarr/v2`` and ``/zarr/v3``, among others) list nodes and
serve array chunks without asking. :class:`RequireApiKey` wraps the whole
app, so no route, Tiled's present or future, answers without the key, given
as Tiled's client gives it (``Authorization: Apikey KEY``), as ``?api_key=KEY``
or in the ``tiled_api_key`` cookie (what Tiled's browser UI keeps).
Only :data:`PUBLIC_PATHS` (health, the server's description) answer without it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

__all__ = ["PUBLIC_PATHS", "RequireApiKey"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: Paths answered without the key, and why: ``/healthz`` says only that the
#: server is up (``{"status": "ready"}``), for a container's health probe;
#: ``/api/v1/`` describes the server (Tiled's version, formats, query types,
#: how to authenticate), which Tiled's client reads before it sends the key.
#: Neither names a run or holds metadata or data.
PUBLIC_PATHS = frozenset({"/healthz", "/api/v1/"})

_BODY = b'{"detail":"An API key is required: Authorization: Apikey KEY, or ?api_key=KEY"}'
_HEADERS = [(b"content-type", b"application/json"), (b"www-authenticate", b"Apikey"),
            (b"content-length", str(len(_BODY)).encode())]


class RequireApiKey:
    """ASGI middleware: every HTTP request and websocket without ``key`` is refused (401).

    Parameters
    ----------
    app : ASGI app
        The app behind it (Tiled's).
    key : str
        The key (letters and digits).
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], key: str) -> None:
        self.app = app
        self._key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on when it carries the key (or is public); else refuse it."""
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope.get("path") in PUBLIC_PATHS or (
                self._carries_key(scope)):
            await self.app(scope, receive, send)
        elif kind == "http":
            await send({"type": "http.response.start", "status": 401, "headers": _HEADERS})
            await send({"type": "http.response.body", "body": _BODY})
        elif "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 401,
                        "headers": _HEADERS})
            await send({"type": "websocket.http.response.body", "body": _BODY})
        else:
            await send({"type": "websocket.close", "code": 1008})

    def _given(self, scope: Scope) -> list[bytes]:
        given = []
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, credential = value.partition(b" ")
                if scheme.lower() == b"apikey":
                    given.append(credential.strip())
            elif name == b"cookie":
                try:
                    cookie = SimpleCookie(value.decode("latin-1"))
                except CookieError:
                    continue
                if "tiled_api_key" in cookie:
                    given.append(cookie["tiled_api_key"].value.encode("latin-1"))
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given.extend(v.encode("latin-1") for v in query.get("api_key", []))
        return given

    def _carries_key(self, scope: Scope) -> bool:
        return any(secrets.compare_digest(given, self._key) for given in self._given(scope))
