"""A real PostgreSQL server for the tests: Debian's postgresql 15, run as its own user.

:class:`PostgresServer` makes a cluster in a fresh directory (owned by the
``postgres`` user: the server refuses to run as root), listens on 127.0.0.1 on
a free port with its unix socket in that directory, and gives each test a new
database (:meth:`PostgresServer.new_database`). If the server cannot be made or
started, the error names PostgreSQL and what failed: the tests fail, never skip.
On a fresh machine ``.ci/run`` installs the ``postgresql`` package first.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: Debian's PostgreSQL binaries (the ``postgresql`` package).
BIN = Path(os.environ.get("RESONANCE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))

#: The unprivileged user the server runs as.
USER = "postgres"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, started and stopped by the tests."""

    def __init__(self, *, fsync: bool = False) -> None:
        self.fsync = fsync  # off for the tests (speed); on for the benchmarks (the real cost)
        self.root = Path(tempfile.mkdtemp(prefix="rc-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._names = itertools.count()

    def _as_postgres(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"PostgreSQL: {' '.join(command)} failed "
                               f"({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        return done

    def start(self) -> PostgresServer:
        """Make the cluster (first time) and start the server; raise naming PostgreSQL if not."""
        if not (BIN / "postgres").is_file():
            raise RuntimeError(f"PostgreSQL is not installed ({BIN / 'postgres'} missing): "
                               "apt-get install postgresql")
        if os.geteuid() == 0:
            shutil.chown(self.root, USER, USER)
        if not self.data.exists():
            self._as_postgres(str(BIN / "initdb"), "-D", str(self.data), "-U", USER,
                              "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")
        fsync = "on" if self.fsync else "off"
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync={fsync} "
                   "-c max_connections=200 -c shared_buffers=64MB")
        self._as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-l",
                          str(self.root / "server.log"), "-o", options, "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients, then shut down)."""
        self._as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop the server, disconnecting every client, and start it again."""
        self.stop()
        self.start()

    def url(self, database: str = "postgres") -> str:
        """The URL of ``database`` on this server."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self._as_postgres(str(BIN / "psql"), "-h", str(self.root), "-p", str(self.port),
                          "-U", USER, "-d", "postgres", "-q", "-c", f"CREATE DATABASE {name}")
        return self.url(name)

    def close(self) -> None:
        """Stop the server (if running) and remove its directory."""
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A started server, closed on leaving (fails, naming PostgreSQL, if it cannot start)."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()
