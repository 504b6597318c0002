"""The ``serve`` command: user mistakes are one line; a missing extra names it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from resonance_callback.cli import main


@pytest.mark.parametrize(("args", "message"), [
    (["--nats", "nats://127.0.0.1:1", "--stream", "s"], "give one of --db DB or --db-template"),
    (["--db", "x.db"], "give one source: --zmq HOST:PORT, --nats URL --stream NAME, or "
                        "--kafka HOST:PORT --topic NAME"),
    (["--db", "x.db", "--kafka", "127.0.0.1:1"], "needs --topic NAME"),
    (["--db", "x.db", "--nats", "nats://127.0.0.1:1"], "needs --stream NAME"),
    (["--db", "x.db", "--zmq", "nowhere"], "0MQ address 'nowhere' is not HOST:PORT"),
    (["--db-template", "{sample.name}.db", "--zmq", "127.0.0.1:1"], "is not a plain key"),
])
def test_serve_usage_mistakes_are_one_line_without_traceback(tmp_path: Path, args: list[str],
                                                             message: str) -> None:
    result = CliRunner().invoke(main, ["serve", *args], catch_exceptions=False)
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output


def test_serve_against_a_nats_server_that_is_not_there_is_one_line_naming_it(tmp_path: Path
                                                                              ) -> None:
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "b.db"), "--nats",
                                       "nats://127.0.0.1:9", "--stream", "bluesky"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(
        "Error: cannot connect to NATS server nats://127.0.0.1:9")


@pytest.mark.parametrize(("blocked", "source", "message"), [
    (("nats", "zmq"), ["--nats", "nats://127.0.0.1:9", "--stream", "bluesky"],
     "Error: serving from NATS needs nats-py: pip install 'resonance-callback[serve]'"),
    (("confluent_kafka",), ["--kafka", "127.0.0.1:9", "--topic", "bluesky"],
     "Error: serving from Kafka needs confluent-kafka: pip install 'resonance-callback[kafka]'"),
], ids=["serve", "kafka"])
def test_serve_without_its_extra_names_it_in_one_line(tmp_path: Path, blocked: tuple[str, ...],
                                                      source: list[str], message: str) -> None:
    script = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in blocked) + (
        "from resonance_callback.cli import main\n"
        f"sys.argv = ['resonance-callback', 'serve', '--db', {str(tmp_path / 'b.db')!r}, "
        f"*{source!r}]\nmain()\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == message


def test_serve_against_a_kafka_broker_that_is_not_there_is_one_line_naming_it(tmp_path: Path
                                                                               ) -> None:
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "b.db"), "--kafka",
                                       "127.0.0.1:9", "--topic", "bluesky"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(
        "Error: cannot reach Kafka 127.0.0.1:9: ")


def test_serve_on_a_stream_that_does_not_exist_is_one_line_naming_it(tmp_path: Path,
                                                                     nats_server) -> None:
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "b.db"), "--nats",
                                       nats_server.url, "--stream", "nope"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: NATS server {nats_server.url} has no JetStream stream 'nope'")
