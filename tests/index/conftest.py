"""The index's engines: every test taking ``index_target`` or ``engine_site`` runs on both.

``index_target`` is a new, empty index: an SQLite file in ``tmp_path``, or a new
database on the session's PostgreSQL server (Debian's postgresql, started as its own
user by :class:`tests.postgres_server.PostgresServer`). If PostgreSQL cannot start,
the PostgreSQL tests fail, naming it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ..beamtime_fixture import Site, build_site
from ..postgres_server import PostgresServer

ENGINES = ["sqlite", "postgres"]


def index_rows(index: Path | str, sql: str) -> list[tuple[Any, ...]]:
    """The rows ``sql`` selects from the index, on either engine."""
    if isinstance(index, str):
        import psycopg

        with psycopg.connect(index) as pg:
            return pg.execute(sql).fetchall()
    conn = sqlite3.connect(index)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def index_count(index: Path | str, sql: str) -> int:
    """The one number ``sql`` selects from the index, on either engine."""
    return int(index_rows(index, sql)[0][0] or 0)


@pytest.fixture(params=ENGINES)
def index_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A new index on each engine: a file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "index.db"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture(scope="session", params=ENGINES)
def engine_site(request: pytest.FixtureRequest, recorded: dict[str, Any],
                tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The shared site (three live-indexed beamtimes), its index on each engine."""
    base = tmp_path_factory.mktemp("site")
    if request.param == "sqlite":
        return build_site(base, recorded=recorded)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return build_site(base, recorded=recorded, index=server.new_database())
