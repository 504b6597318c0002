"""The ``resonance-callback`` command line: a thin click group, one function per command.

Each module registers its commands on :data:`main`: ``demo_cmd`` (``demo``),
``read_cmds`` (``export``, ``plot``), ``check_cmd`` (``check``), ``index_cmds``
(``index ...``, ``reindex``, ``search``), ``replay_cmd`` (``replay``) and
``inspect_cmds`` (``runs``, ``show``). ``_base`` holds the group, the error
handling shared by every command (one line, exit 1; ``--debug`` for a
traceback) and table output.
"""

from resonance_callback.cli import _check_cmd as check_cmd
from resonance_callback.cli import _demo_cmd as demo_cmd
from resonance_callback.cli import _index_cmds as index_cmds
from resonance_callback.cli import _inspect_cmds as inspect_cmds
from resonance_callback.cli import _read_cmds as read_cmds
from resonance_callback.cli import _replay_cmd as replay_cmd
from resonance_callback.cli._base import main

__all__ = ["main"]

# The command modules are imported for the commands they register on ``main``.
del check_cmd, demo_cmd, index_cmds, inspect_cmds, read_cmds, replay_cmd
