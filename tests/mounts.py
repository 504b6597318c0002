"""A real file system mounted for a test: a full disk (a small tmpfs), a read-only view.

Sessions and CI run as root, so ``chmod`` cannot make a directory read-only or a
disk full for a test; a mount can. A mount that cannot be made fails the test,
naming the command: it is never skipped, so a fault test always runs.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def mount(command: list[str], target: Path) -> None:
    """Run one mount command, failing the test (naming it) if it cannot be done."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        subprocess.run(["umount", str(target)], capture_output=True)
        pytest.fail(f"cannot mount here ({' '.join(command)}): {done.stderr.strip()} "
                    "(the fault tests need root and mount(8))")


@contextlib.contextmanager
def mounted(*commands: list[str], target: Path) -> Iterator[Path]:
    """Run mount commands (root only), unmounting ``target`` afterwards."""
    for command in commands:
        mount(command, target)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)
