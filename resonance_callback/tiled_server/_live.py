"""Tiled's live streaming (``/api/v1/stream/single/...``) is not offered: one clear refusal.

Tiled's websocket route asks the node for ``make_ws_handler``; its SQL
catalog answers from a streaming cache (memory or Redis) into which its own
write path publishes (``container-child-created`` when a node is made,
``array-ref`` / ``table-data`` when data is written). Our nodes are read
from a beamtime another process writes, with no such publisher, so a
subscription is refused with ``501 Not Implemented`` and a one-line reason
(not Tiled's 500 with a server traceback); the server goes on answering.
The API key is checked before this, as for every route.
"""

from __future__ import annotations

from typing import Any

from resonance_callback._extras import needs_extra

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    from starlette.responses import JSONResponse

__all__ = ["NOT_OFFERED", "NoLiveStream"]

#: Why a subscription is refused.
NOT_OFFERED = ("live streaming (websocket subscriptions) is not offered by this server: "
               "read the node again to see what was written since")


class NoLiveStream:
    """Mixed into our Tiled adapters: a websocket subscription to one is refused (501)."""

    def make_ws_handler(self, websocket: Any, formatter: Any, uri: str) -> Any:
        """Return the handler Tiled runs for a subscription: it refuses it."""
        async def refuse(start: int | None = None, already_accepted: bool = False) -> None:
            if not already_accepted and "websocket.http.response" in websocket.scope.get(
                    "extensions", {}):
                await websocket.send_denial_response(
                    JSONResponse({"detail": NOT_OFFERED}, status_code=501))
            else:
                await websocket.close(code=1003, reason=NOT_OFFERED[:120])

        return refuse
