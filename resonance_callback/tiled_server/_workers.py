"""``serve-tiled --workers N``: the same app in N processes behind one port.

uvicorn starts each worker process from an import string, so a worker builds
its app from the environment its parent leaves it (:func:`app_from_env`); the
parent checks the configuration first, by building the app once itself, so a
mistake is one line before any worker starts. The API key travels in the
environment of the workers only (the parent's own processes), and each worker
takes it out of its environment once read. uvicorn's supervisor starts a new
worker in place of one that dies.

Every worker is stateless over the same files (or PostgreSQL index), so a load
balancer in front of several hosts' ``serve-tiled`` works the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.tiled_server._app import build_app

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    import uvicorn

__all__ = ["app_from_env", "run_workers"]

_PATH, _KEY, _PUBLIC = ("RESONANCE_TILED_PATH", "RESONANCE_TILED_API_KEY",
                        "RESONANCE_TILED_PUBLIC")


def app_from_env() -> Any:
    """The app of one worker, from what :func:`run_workers` left in the environment."""
    key = os.environ.pop(_KEY, None)
    return build_app(os.environ[_PATH], api_key=key, public=os.environ.get(_PUBLIC) == "1")


def run_workers(path: str | Path, *, workers: int, host: str = "127.0.0.1", port: int = 8000,
                api_key: str | None = None, public: bool = False) -> None:
    """Serve ``path`` with ``workers`` processes until interrupted (see :func:`build_app`).

    Raises
    ------
    ValueError
        A configuration :func:`build_app` refuses (:class:`ServerConfigError`).
    OSError
        Nothing to serve at ``path`` (:class:`StorageError`).
    """
    build_app(path, api_key=api_key, public=public)  # one clear error, before any worker
    os.environ[_PATH] = str(path)
    os.environ[_PUBLIC] = "1" if public else "0"
    if api_key is not None:
        os.environ[_KEY] = api_key
    try:
        uvicorn.run(f"{__name__}:app_from_env", factory=True, workers=workers, host=host,
                    port=port, log_level="warning")
    finally:
        for name in (_PATH, _KEY, _PUBLIC):
            os.environ.pop(name, None)
