"""The browser view: a small static page of ours at ``/view/``, ``/`` redirecting to it.

The page (``view/``: plain HTML, CSS and JavaScript modules, no build step,
nothing fetched from elsewhere) lists runs by scan id, plan, sample, start
time and exit status, opens a run to its streams, draws a scalar stream as a
line and steps through frames. It reads everything through Tiled's own
routes (``/api/v1/search``, ``/metadata``, ``/table/full``,
``/array/full?format=image/png``), with the key the user typed into the
page kept in the tab's ``sessionStorage`` and sent as
``Authorization: Apikey KEY``, never in a URL.

:class:`ViewPage` answers only :data:`PAGE_FILES` (the page's own files,
which hold no run, metadata or data) and the redirect of ``/``, before the
key is checked; every other path goes on to the app behind it (the key's
check, then Tiled's). Its answers carry a Content-Security-Policy that lets
the page load scripts, styles, images and data from its own origin only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any

__all__ = ["PAGE", "PAGE_FILES", "REDIRECTS", "ViewPage"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: Where the page is.
PAGE = "/view/"
#: The paths redirected to the page (Tiled's own ``/`` is its UI's welcome page).
REDIRECTS = frozenset({"/", "/view"})

_TYPES = {"html": b"text/html; charset=utf-8", "js": b"text/javascript; charset=utf-8",
          "css": b"text/css; charset=utf-8"}
#: The page's files, by the path each is served at (read once, at import).
PAGE_FILES: dict[str, tuple[bytes, bytes]] = {}
for _entry in resources.files("resonance_callback.tiled_server").joinpath("view").iterdir():
    _suffix = _entry.name.rpartition(".")[2]
    if _entry.is_file() and _suffix in _TYPES:
        _path = PAGE if _entry.name == "index.html" else PAGE + _entry.name
        PAGE_FILES[_path] = (_entry.read_bytes(), _TYPES[_suffix])

#: Scripts, styles, images (the frames, as blob: URLs made from what the page
#: fetched) and fetches from this origin only; no plugin, no frame, no form
#: sent elsewhere.
CSP = (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
       b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_SAFE = [(b"content-security-policy", CSP), (b"x-content-type-options", b"nosniff"),
         (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-cache")]


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]],
                  head_only: bool) -> None:
    headers = [*headers, *_SAFE, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head_only else body})


class ViewPage:
    """ASGI middleware: serves the page's files and redirects ``/`` (and ``/view``) to it.

    Parameters
    ----------
    app : ASGI app
        The app behind it (the key's check in front of Tiled's app).
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a GET or HEAD of the page's paths; pass everything else on."""
        path = scope.get("path")
        method = scope.get("method")
        if scope["type"] != "http" or method not in ("GET", "HEAD") or not (
                path in REDIRECTS or path in PAGE_FILES):
            await self.app(scope, receive, send)
            return
        head_only = method == "HEAD"
        if path in REDIRECTS:
            # Relative, so that it holds behind a proxy serving the app below a prefix.
            await _answer(send, 307, b"", [(b"location", b"view/")], head_only)
            return
        body, kind = PAGE_FILES[path]
        await _answer(send, 200, body, [(b"content-type", kind)], head_only)
