"""A beamtime written by our callback and served by our ``serve-tiled`` app, in-process.

The redirect conftests build one :class:`ServedBeamtime` where upstream builds a
Tiled catalog, and put :class:`CallbackAsTiledWriter` where upstream has
``bluesky_tiled_plugins.TiledWriter``: every document an upstream test writes
goes to :class:`~resonance_callback.RunWriterCallback` (``threaded=False``, so a
run is stored when its ``stop`` returns, as TiledWriter's is), and the client
the test reads with is ``tiled.client.from_context`` over
:func:`resonance_callback.tiled_server.build_app` of that beamtime.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tiled.client import Context, from_context

from resonance_callback import RunWriterCallback
from resonance_callback.tiled_server import build_app

__all__ = ["CallbackAsTiledWriter", "ServedBeamtime", "install_writer", "served_for"]

log = logging.getLogger("tools.conformance")

# id(Context) -> the beamtime its app serves; a client finds its writer through its context.
_SERVED: dict[int, ServedBeamtime] = {}


class ServedBeamtime:
    """A beamtime in ``directory`` with its callback, its app and a client of the app."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.db = directory / "beamtime.db"
        self.callback = RunWriterCallback(self.db, threaded=False)
        self.app = build_app(self.db, public=True)
        self.context = Context.from_app(self.app)
        self.client = from_context(self.context)
        _SERVED[id(self.context)] = self

    def close(self) -> None:
        """Close the client's context and the callback."""
        _SERVED.pop(id(self.context), None)
        try:
            self.context.__exit__(None, None, None)
        finally:
            self.callback.close()


def served_for(client: Any) -> ServedBeamtime:
    """The beamtime a client (of a :class:`ServedBeamtime`) reads."""
    try:
        return _SERVED[id(client.context)]
    except (KeyError, AttributeError):
        raise LookupError(f"{client!r} is not a client of a served beamtime") from None


class CallbackAsTiledWriter:
    """Stands in for ``TiledWriter(client, **options)``: documents go to our callback.

    What is written is committed when TiledWriter would have written it (so a
    live subscription sees it then): every document at once, events every
    ``batch_size`` (TiledWriter's default 10000) and at the stop. TiledWriter's
    other options (``max_array_size``, ``validate``, ``patches``, backups, ...)
    are its own and are ignored.
    """

    def __init__(self, client: Any, *args: Any, **options: Any) -> None:
        self.client = client
        self.options = options
        self._served = served_for(client)
        self._batch = max(1, int(options.get("batch_size", 10_000)))
        self._held = 0

    def __call__(self, name: str, doc: dict[str, Any], *args: Any, **kwargs: Any
                 ) -> tuple[str, dict[str, Any]]:
        """Hand one document to the callback (rejections are logged by it)."""
        self._served.callback(name, doc)
        if name in ("event", "event_page"):
            self._held += 1
            if self._held < self._batch:
                return name, doc
        self._held = 0
        self._served.callback.flush()
        return name, doc

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> CallbackAsTiledWriter:
        """Not offered: the redirect knows only in-process clients."""
        raise LookupError(f"{uri}: the conformance redirect serves in-process clients only")


def install_writer() -> None:
    """Put :class:`CallbackAsTiledWriter` where upstream imports ``TiledWriter`` from."""
    import bluesky_tiled_plugins

    bluesky_tiled_plugins.TiledWriter = CallbackAsTiledWriter
