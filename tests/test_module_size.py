"""Every module of the package is at most 300 lines (the project's rule; split past it)."""

from __future__ import annotations

from pathlib import Path

import resonance_callback

MAX_LINES = 300
PACKAGE = Path(resonance_callback.__file__).parent


def test_every_module_is_at_most_300_lines() -> None:
    lengths = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        with path.open("rb") as f:
            lengths[path.relative_to(PACKAGE.parent).as_posix()] = sum(1 for _ in f)
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    listed = ", ".join(f"{name} ({n} lines)" for name, n in too_long.items())
    assert not too_long, f"modules over {MAX_LINES} lines (split them): {listed}"
