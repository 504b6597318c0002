"""Fixtures of the object-storage tests: a real S3 server, its environment, a fresh prefix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.s3_server import S3Server

from ..tiled_server.conftest import open_client  # noqa: F401 - the fixture, for these tests


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The AWS_* variables of the server set for the test (and the processes it starts)."""
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def frames_url(s3_env: S3Server) -> str:
    """A prefix of its own for the test's frames."""
    return f"s3://frames/{uuid.uuid4().hex[:12]}"


def objects(url: str, under: str = "") -> list[str]:
    """Keys of the objects below ``url`` (relative to it)."""
    from resonance_callback.store import frame_stores

    return frame_stores.ObjectFrames(url).keys(under)


@pytest.fixture
def bt(tmp_path: Path) -> Path:
    return tmp_path / "bt.db"
