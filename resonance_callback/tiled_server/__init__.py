"""A Tiled server over beamtimes and the master index, in TiledWriter's node layout.

``build_app(path)`` is a Tiled app (the ``tiled`` package's own server, its
auth settings) over a beamtime, a directory of beamtimes or a master index;
``tiled.client.from_uri`` with bluesky-tiled-plugins reads its runs as it
reads a TiledWriter-fed catalog, and subscribes to runs being written
(Tiled's live streaming, served by polling; ``LiveLimits`` bounds it). A browser
view of ours is at ``/view/`` (``/`` redirects there; see ``_view``). ``run_workers``
serves it with several processes. Needs the ``tiled`` extra.
"""

from resonance_callback.tiled_server._app import build_app, run_app, serve
from resonance_callback.tiled_server._live import LiveLimits
from resonance_callback.tiled_server._tree import build_tree
from resonance_callback.tiled_server._workers import run_workers

__all__ = ["LiveLimits", "build_app", "build_tree", "run_app", "run_workers", "serve"]
