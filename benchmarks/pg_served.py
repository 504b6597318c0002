"""serve-tiled over the master index on PostgreSQL, timed over HTTP (``pg_index --served``).

See :mod:`benchmarks.pg_index`: at each size ``serve-tiled URL`` runs in its own
process (this tree's code; with ``--before DIR`` a second one with ``DIR`` first
on ``PYTHONPATH``, measured interleaved) and three requests are timed.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from resonance_callback.index import RunIndexer

__all__ = ["real_run", "served_ms"]

API_KEY = "bench"
SERVED_REQUESTS = {
    "open one run": "/api/v1/metadata/{uid}",
    "first page": "/api/v1/search/?page[offset]=0&page[limit]=100&fields=&sort=_",
    "count": "/api/v1/search/?fields=count&sort=_",
}


def real_run(url: str, root: Path) -> str:
    """One run written by the callback into a real beamtime and indexed live; its uid."""
    from event_model import compose_run

    from resonance_callback import RunWriterCallback

    db = root / "real" / "real.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    bundle = compose_run(metadata={"plan_name": "count", "sample": "real"})
    desc = bundle.compose_descriptor(
        name="primary", data_keys={"x": {"dtype": "number", "shape": [], "source": "sim"}})
    docs = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc),
            ("event", desc.compose_event(data={"x": 1.0}, timestamps={"x": time.time()})),
            ("stop", bundle.compose_stop())]
    with RunWriterCallback(db, threaded=False) as callback:
        for name, doc in docs:
            callback(name, doc)
    with RunIndexer(url, "Real", root / "real", "real", db) as indexer:
        indexer.run_started(bundle.start_doc, "real")
        indexer.run_stopped(docs[-1][1], {"primary": 1})  # type: ignore[arg-type]
    return str(bundle.start_doc["uid"])


class _Served:
    """``serve-tiled URL`` in its own process, with ``src`` first on its path."""

    def __init__(self, url: str, src: Path) -> None:
        import os
        import socket
        import subprocess

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(src)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from resonance_callback.cli import main; main()",
             "serve-tiled", url, "--port", str(self.port), "--api-key", API_KEY],
            env=env, cwd=src,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> float:
        """Seconds for one GET of ``path`` (answered 200)."""
        import httpx

        t0 = time.perf_counter()
        answer = httpx.get(self.base + path, headers={"Authorization": f"Apikey {API_KEY}"},
                           timeout=900)
        elapsed = time.perf_counter() - t0
        answer.raise_for_status()
        return elapsed

    def wait(self) -> _Served:
        import httpx

        for _ in range(600):
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve-tiled exited with {self.proc.returncode}")
            try:
                httpx.get(self.base + "/api/v1/", timeout=5)
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("serve-tiled did not answer in 120 s")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def served_ms(url: str, uid: str, before: Path | None) -> dict[str, dict[str, float]]:
    """Median ms per request kind, per code (``after``: this tree; ``before``: ``--before``)."""
    srcs = {"after": Path(__file__).resolve().parent.parent}
    if before is not None:
        srcs["before"] = before
    servers = {name: _Served(url, src) for name, src in srcs.items()}
    try:
        for server in servers.values():
            server.wait()
        times: dict[str, dict[str, list[float]]] = {n: {k: [] for k in SERVED_REQUESTS}
                                                    for n in servers}
        for rep in range(5):
            for name, server in servers.items():
                if name == "before" and rep >= 3:
                    continue
                for kind, path in SERVED_REQUESTS.items():
                    times[name][kind].append(server.get(path.format(uid=uid)))
    finally:
        for server in servers.values():
            server.close()
    return {name: {kind: 1e3 * statistics.median(t) for kind, t in kinds.items()}
            for name, kinds in times.items()}


