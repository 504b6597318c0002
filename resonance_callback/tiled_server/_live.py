"""Tiled's live streaming (``/api/v1/stream/single/...``), served by polling the beamtime.

Tiled's websocket route asks the node for ``make_ws_handler``; its SQL
catalog answers from a streaming cache its own write path feeds. Our
beamtime is written by another process, so :class:`LiveStream` (mixed into
our adapters) answers with a handler that, every ``poll_seconds``, looks the
subscribed node up again (read-only, through the read layer, in a worker
thread) and sends what appeared since, in the catalog's messages
(:mod:`._live_feed`). A run's subscriptions end once its stop is stored; a
container's (a run's, a stream's) ends :data:`CONTAINER_GRACE_POLLS` polls
later, so that the subscriptions a client opened on the nodes inside it (each
polling on its own clock) have sent their last rows before it hears that the
run is over, the order TiledWriter's catalog gives, which publishes each row
as it is written.

Bounds: at most ``max_subscriptions`` sockets at once per app (one more is
refused: 503 before the socket opens, else close code 1013); one poll per
interval per socket; each message at most
:data:`~._live_feed.MAX_ROWS_PER_MESSAGE` rows. A socket the client closes
stops its poller at once. The API key is checked before any of this, as for
every route (:mod:`._auth`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from resonance_callback._extras import needs_extra
from resonance_callback.errors import DataLookupError
from resonance_callback.tiled_server._live_feed import Feed, schema_message, structure_family

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    import anyio.to_thread
    from starlette.responses import JSONResponse

__all__ = ["LiveLimits", "LiveStream", "install_limits"]

logger = logging.getLogger("resonance_callback.tiled_server")

#: Why a subscription is refused when the server has as many as it allows.
TOO_MANY = "too many live subscriptions on this server: try again later"

#: Polls a container's subscription goes on after its run's stop is seen.
CONTAINER_GRACE_POLLS = 2


@dataclass(frozen=True)
class LiveLimits:
    """How often subscriptions poll, and how many a server holds at once."""

    poll_seconds: float = 0.25
    max_subscriptions: int = 64


def install_limits(app: Any, limits: LiveLimits) -> None:
    """Give ``app`` (Tiled's) the limits its subscriptions keep, and no subscription yet."""
    app.state.live_limits = limits
    app.state.live_active = 0


async def _resolve(root: Any, segments: list[str]) -> tuple[Any, Any]:
    """Look the node at ``segments`` up afresh; return it and the run it is in (or None)."""
    node, run = root, None
    for segment in segments:
        lookup = getattr(node, "lookup_adapter", None)
        if lookup is None:
            raise DataLookupError(f"{'/'.join(segments)}: no longer there")
        try:
            node = await lookup([segment])
        except KeyError as exc:  # Tiled's NoEntry; another error ends the socket as one
            raise DataLookupError(f"{'/'.join(segments)}: no longer there") from exc
        if node is None:
            raise DataLookupError(f"{'/'.join(segments)}: no longer there")
        run = getattr(node, "run", run)
    return node, run


async def _poll(root: Any, segments: list[str], feed: Feed) -> tuple[list[Any], bool]:
    """One poll: the messages to send, and whether the node's run has ended (all sent)."""
    node, run = await _resolve(root, segments)
    done = run is not None and await anyio.to_thread.run_sync(lambda: run.stop is not None)
    if done:  # what is read after the stop is seen is all there will be
        node, _ = await _resolve(root, segments)
    return await anyio.to_thread.run_sync(feed.poll, node), done


class LiveStream:
    """Mixed into our Tiled adapters: a websocket subscription to one is served by polling.

    Every node also lists its access tags, none (``[]``), as a node of
    TiledWriter's catalog does: Tiled's client reads them, and a node
    without the list (``null``) fails ``metadata_copy()``.
    """

    access_tags: frozenset[str] = frozenset()

    def make_ws_handler(self, websocket: Any, formatter: Any, uri: str) -> Any:
        """Return the handler Tiled runs for a subscription to this node."""
        node = self

        async def handler(start: int | None = None, already_accepted: bool = False) -> None:
            state = websocket.app.state
            limits: LiveLimits = getattr(state, "live_limits", LiveLimits())
            active = getattr(state, "live_active", 0)
            if active >= limits.max_subscriptions:
                await _refuse(websocket, already_accepted)
                return
            state.live_active = active + 1
            try:
                if not already_accepted:
                    await websocket.accept()
                await _serve(websocket, formatter, node, uri, start, limits)
            finally:
                state.live_active = getattr(state, "live_active", 1) - 1

        return handler


async def _refuse(websocket: Any, already_accepted: bool) -> None:
    if not already_accepted and "websocket.http.response" in websocket.scope.get(
            "extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": TOO_MANY},
                                                          status_code=503))
    else:
        if not already_accepted:
            await websocket.accept()
        await websocket.close(code=1013, reason=TOO_MANY)


async def _serve(websocket: Any, formatter: Any, node: Any, uri: str, start: int | None,
                 limits: LiveLimits) -> None:
    """Send the schema, then each poll's messages, until the run ends or the client leaves."""
    path = str(websocket.scope.get("path_params", {}).get("path", ""))
    segments = [segment for segment in path.split("/") if segment]
    root = websocket.app.state.root_tree
    feed = Feed(start=start, uri=uri)
    gone = asyncio.Event()
    grace = CONTAINER_GRACE_POLLS if structure_family(node) == "container" else 0

    async def watch() -> None:
        try:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        except Exception:  # the socket closed under us: the same as leaving
            pass
        finally:
            gone.set()

    watcher = asyncio.create_task(watch())
    try:
        await formatter(websocket, schema_message(node), None)
        while not gone.is_set():
            try:
                messages, done = await _poll(root, segments, feed)
            except DataLookupError as exc:
                logger.info("serve-tiled: live subscription ended: %s", exc)
                await websocket.close(code=1000, reason="node no longer there")
                return
            for metadata, payload in messages:
                await formatter(websocket, metadata, payload)
            if done and grace <= 0:
                await websocket.close(code=1000, reason="Producer ended stream")
                return
            grace -= done
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gone.wait(), limits.poll_seconds)
    except Exception as exc:  # a send to a socket the client left, or a read that failed
        if not gone.is_set():
            logger.warning("serve-tiled: live subscription to %s ended: %s", path, exc)
            with contextlib.suppress(Exception):
                await websocket.close(code=1011, reason=str(exc)[:120])
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
