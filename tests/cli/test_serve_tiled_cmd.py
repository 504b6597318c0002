"""The serve-tiled command: its help, and user mistakes as one line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from resonance_callback.cli import main


def test_help_shows_an_example_and_the_client_code() -> None:
    result = CliRunner().invoke(main, ["serve-tiled", "--help"])
    assert result.exit_code == 0
    assert "resonance-callback serve-tiled beamtime.db --port 8000 --api-key secret" in (
        result.output)
    assert 'c[-1]["primary"].read()' in result.output


def test_api_key_and_public_together_is_a_usage_error(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    db.write_bytes(b"")
    result = CliRunner().invoke(main, ["serve-tiled", str(db), "--api-key", "k1", "--public"])
    assert result.exit_code == 2
    assert "give --api-key or --public, not both" in result.output


def test_an_api_key_with_other_than_letters_and_digits_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve-tiled", str(tmp_path), "--api-key", "a-b"])
    assert result.exit_code == 2
    assert "--api-key must be letters and digits only" in result.output


def test_a_file_that_is_no_beamtime_is_one_error_line_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("not sqlite")
    result = CliRunner().invoke(main, ["serve-tiled", str(bad), "--port", "0", "--public"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and str(bad) in result.output


def test_neither_api_key_nor_public_is_one_usage_line_naming_both(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve-tiled", str(tmp_path), "--port", "0"])
    assert result.exit_code == 2
    assert "give --api-key KEY (clients must give it) or --public (anyone may read)" in (
        result.output)
