"""The Tiled app over a path, and a server running it: ``resonance-callback serve-tiled``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import ServerConfigError
from resonance_callback.tiled_server._auth import RequireApiKey
from resonance_callback.tiled_server._export import serialization_registry
from resonance_callback.tiled_server._live import LiveLimits, install_limits
from resonance_callback.tiled_server._tree import build_tree
from resonance_callback.tiled_server._view import ViewPage

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    import uvicorn
    from tiled.config import Authentication
    from tiled.server.app import build_app as _tiled_app

__all__ = ["build_app", "run_app", "serve"]


def build_app(path: str | Path, *, api_key: str | None = None, public: bool = False,
              live: LiveLimits | None = None) -> Any:
    """Return the Tiled (ASGI) app serving a beamtime, a directory of them or a master index.

    Parameters
    ----------
    path : str or Path
        A beamtime ``.db`` (its runs at the top of the tree), a directory of
        beamtimes (one container per ``.db``) or a master index (every run).
    api_key : str, optional
        The key clients must give (``from_uri(url, api_key=...)``); letters and
        digits. Every route answers 401 without it, except ``/healthz`` and
        ``/api/v1/`` (the server's description) and the browser view's own
        files (``/view/``, which ask for the key and hold no data): a check
        stands in front of Tiled's app, which checks the key too.
    public : bool, optional
        Let anyone read without a key (anonymous access). One of ``api_key``
        and ``public`` is needed.
    live : LiveLimits, optional
        How often live subscriptions (Tiled's websocket streaming) poll the
        beamtime and how many the server holds at once (default: every
        0.25 s, at most 64).

    Returns
    -------
    fastapi.FastAPI
        Tiled's own app, read-only, with the browser view at ``/view/``
        (``/`` redirects there; Tiled's UI stays at ``/ui/``).

    Raises
    ------
    ValueError
        With neither or both of ``api_key`` and ``public``, or a key that is
        not letters and digits (:class:`ServerConfigError`).
    OSError
        If there is nothing to serve at ``path`` (:class:`StorageError`).
    ImportError
        Without the ``tiled`` extra (:class:`MissingExtraError`).
    """
    if (api_key is None) == (not public):
        raise ServerConfigError("serving needs an API key (--api-key KEY) or --public, "
                                "and not both")
    if api_key is not None and not (api_key.isascii() and api_key.isalnum()):
        raise ServerConfigError("the API key must be letters and digits only")
    tree = build_tree(path)
    auth = Authentication(single_user_api_key=api_key,
                          allow_anonymous_access=True if public else None)
    app = _tiled_app(tree, authentication=auth, serialization_registry=serialization_registry())
    install_limits(app, live if live is not None else LiveLimits())
    if api_key is not None:
        app.add_middleware(RequireApiKey, key=api_key)
    app.add_middleware(ViewPage)  # the page's own files, in front of the key's check
    return app


def run_app(app: Any, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve an app made by :func:`build_app` over HTTP until interrupted."""
    uvicorn.run(app, host=host, port=port, log_level="warning")


def serve(path: str | Path, *, host: str = "127.0.0.1", port: int = 8000,
          api_key: str | None = None, public: bool = False) -> None:
    """Serve ``path`` over HTTP until interrupted (see :func:`build_app`)."""
    run_app(build_app(path, api_key=api_key, public=public), host=host, port=port)
