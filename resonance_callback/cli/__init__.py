"""The ``resonance-callback`` command line: a thin click group, one function per command.

Each module registers its commands on :data:`main`: ``_demo_cmd`` (``demo``),
``_read_cmds`` (``plot``), ``_export_cmd`` (``export``), ``_check_cmd`` (``check``), ``_repair_cmd``
(``repair``), ``_index_cmds``
(``index ...``, ``reindex``, ``search``), ``_replay_cmd`` (``replay``),
``_serve_cmd`` (``serve``), ``_serve_tiled_cmd`` (``serve-tiled``) and ``_inspect_cmds``
(``runs``, ``show``). ``_base`` holds the group, the error handling shared by every command
(one line, exit 1; ``--debug`` for a traceback) and table output.
"""

# Imported only for what they do on import: register their commands on ``main``.
from resonance_callback.cli import (  # noqa: F401
    _check_cmd,
    _demo_cmd,
    _export_cmd,
    _index_cmds,
    _inspect_cmds,
    _read_cmds,
    _repair_cmd,
    _replay_cmd,
    _serve_cmd,
    _serve_tiled_cmd,
)
from resonance_callback.cli._base import main

__all__ = ["main"]
