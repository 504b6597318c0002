"""The README stays a front door, its links and the docs pages' links lead somewhere, and
the snippets that moved from the README into docs pages still run as pasted."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: The markdown the site shows: its own pages, and benchmarks/README.md (docs/benchmarks.md
#: includes it).
PAGES = [README, ROOT / "benchmarks" / "README.md",
         *sorted(p for p in DOCS.glob("**/*.md") if "_build" not in p.parts)]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(page: Path) -> list[str]:
    """Every link target of a markdown page that is not a URL or an anchor in the page."""
    text = CODE_SPAN.sub("", FENCE.sub("", page.read_text()))
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and
            not t.startswith("#")]


def test_readme_is_a_front_door_of_at_most_300_lines() -> None:
    assert len(README.read_text().splitlines()) <= 300


def test_the_pages_have_links_to_check() -> None:
    assert len(PAGES) > 10
    assert len(relative_links(README)) > 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_an_existing_file(page: Path) -> None:
    missing = [target for target in relative_links(page)
               if not (page.parent / target.split("#", 1)[0]).exists()]
    assert missing == [], f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_every_docs_page_is_linked_from_the_readme_or_the_site_index() -> None:
    linked = {(README.parent / t.split("#", 1)[0]).resolve() for t in relative_links(README)}
    index = (DOCS / "index.md").read_text()
    for page in DOCS.glob("*.md"):
        assert page.resolve() in linked or f"\n{page.stem}\n" in index, page.name


def python_blocks_after(page: Path, heading: str) -> list[str]:
    text = page.read_text()
    section = text[text.index(heading):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_xarray_and_serve_tiled_snippets_of_the_reading_page_run_as_pasted(
        tmp_path: Path) -> None:
    local, remote = python_blocks_after(DOCS / "reading.md", "## The databroker / Tiled way")
    proc = subprocess.run([sys.executable, "-c", local], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == [
        "Si scan", "{'time': 5, 'dim_int_1': 10, 'dim_int_1_2': 10}", "(10, 10)", "[1]", "1"]
    # The server the second block talks to, started as the page says; only the port is
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
