from __future__ import annotations

import re
from pathlib import Path

import click

from resonance_callback.cli import main


def test_every_index_command_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "master-index.md").read_text()
    commands = ["reindex", "search"] + [
        f"index {name}" for name in main.commands["index"].commands  # type: ignore[attr-defined]
    ]
    for command in commands:
        assert re.search(rf"resonance-callback {command}\b", doc), command
    assert isinstance(main.commands["index"], click.Group)
