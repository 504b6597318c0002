"""The README's usage snippet runs as pasted, imports included (docs pages: test_docs.py)."""

from __future__ import annotations

import re
import subprocess
import sys
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

