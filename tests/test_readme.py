"""The README's usage snippet runs as pasted, imports included."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block under {heading!r}"
    return match.group(1)


def test_usage_snippet_runs_as_pasted_and_stores_both_runs(tmp_path: Path) -> None:
    code = python_block_after("## Use it in a session")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["scan", "gold", "foil", "21"]
    assert (tmp_path / "beamtime.db").is_file()
    assert (tmp_path / "beamtime.zarr").is_dir()


def python_blocks_after(heading: str) -> list[str]:
    text = README.read_text()
    section = text[text.index(heading):]
    section = section[:section.index("\n### ", 1)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_xarray_and_serve_tiled_snippets_run_as_pasted(tmp_path: Path) -> None:
    local, remote = python_blocks_after("### The databroker / Tiled way")
    proc = subprocess.run([sys.executable, "-c", local], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == [
        "Si scan", "{'time': 5, 'dim_int_1': 10}", "Array", "[1]", "1"]
    # The server the second block talks to, started as the README says; only the port is
    # a free one instead of 8000 (other servers may hold 8000 on a shared machine).
    port = free_port()
    command = [str(Path(sys.executable).with_name("resonance-callback")), "serve-tiled",
               "beamtime.db", "--port", str(port), "--api-key", "secret"]
    server = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "serve-tiled did not start in 60 s"
            time.sleep(0.2)
        client_code = remote.replace(":8000", f":{port}")
        proc = subprocess.run([sys.executable, "-c", client_code], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
    finally:
        server.terminate()
        server.communicate(timeout=30)  # waits, and closes the pipes
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["Si", "[0.607 0.882 1.    0.882 0.607]", "True"]
