"""The command line: demo, --help with an example on every command, --version."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from resonance_callback import __version__
from resonance_callback.cli import main

from ..conftest import sql

README = Path(__file__).parents[2] / "README.md"


def all_commands(group: click.Group = main, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        names.append(f"{prefix}{name}")
        if isinstance(command, click.Group):
            names.extend(all_commands(command, f"{prefix}{name} "))
    return names


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("command", all_commands())
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(main, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and f"resonance-callback {command}" in result.output


@pytest.mark.parametrize("command", all_commands())
def test_every_command_is_documented_in_the_readme(command: str) -> None:
    assert re.search(rf"resonance-callback {re.escape(command)}\b", README.read_text())


def test_demo_writes_a_beamtime_and_prints_its_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    db_path = tmp_path / "demo" / "demo.db"
    assert (tmp_path / "demo" / "demo.zarr").is_dir()
    runs = sql(db_path, "SELECT exit_status FROM runs")
    assert len(runs) == 5 and {s for (s,) in runs} == {"success"}
    assert len(sql(db_path, "SELECT DISTINCT sample_id FROM runs")) == 2
    assert sql(db_path, "SELECT count(*) FROM image_refs")[0][0] == 8
    assert "grid_scan" in result.output and "PS-b-PMMA film" in result.output


def test_unknown_command_is_a_usage_error_with_exit_code_2() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2


def test_demo_into_a_file_path_fails_with_one_line(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    result = CliRunner().invoke(main, ["demo", str(target)])
    assert result.exit_code == 2
    assert "a-file" in result.output
