"""``python -m benchmarks --quick`` runs every case and writes them all to JSON (untimed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    "ingest": {"callback", "sqlite loop", "suitcase-jsonl", "TiledWriter"},
    "re_overhead": {"no subscriber", "callback"},
    "re_image": {"no subscriber", "callback", "callback uncompressed", "suitcase-msgpack"},
    "frames": {"callback zstd", "bulk zarr zstd", "callback blosc-lz4", "bulk zarr blosc-lz4",
               "callback blosc-zstd", "bulk zarr blosc-zstd", "raw file"},
    "frames_s3": {"callback local disk", "callback S3"},
    "replay": {"callback", "hand-written loop", "parse only", "callback, stored already"},
    "reader": {"stream to DataFrame", "one frame (zarr)"},
    "memory": {"N=200", "N=1000"},
    "scale": {"curves"},
    "reads": {"curves"},
    "serve": {"figures"},
    "metadata": {"store N=100", "store N=1000", "store N=100 schema-3 view", "upgrade N=100",
                 "upgrade N=1000"},
}


def test_quick_benchmark_writes_every_case(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "## Targets" in proc.stdout
    report = json.loads(out.read_text())
    assert report["config"]["quick"] is True
    assert {"python", "cpus", "sqlite", "zarr"} <= set(report["machine"])

    by_case: dict[str, dict[str, dict]] = {}
    for case in report["cases"]:
        by_case.setdefault(case["case"], {}).update(
            {name: {"summary": s, "skipped": case["skipped"].get(name)}
             for name, s in case["variants"].items()})
    assert set(by_case) == set(CASES)
    for case, variants in CASES.items():
        assert variants <= set(by_case[case]), (case, set(by_case[case]))
        for name in variants:
            entry = by_case[case][name]
            if name == "TiledWriter" and entry["summary"] is None:
                assert entry["skipped"], "a skipped TiledWriter must say why"
                continue
            summary = entry["summary"]
            assert summary is not None, (case, name, entry["skipped"])
            assert summary["median_s"] > 0 and summary["rss_peak_mb"] > 0

    names = [t["target"] for t in report["targets"]]
    for prefix in ("ingest", "RunEngine count", "frames", "memory", "default codec", "replay",
                   "beamtime of", "index of", "index: live indexing", "one run: events/s",
                   "one run: table()", "one run: one frame", "metadata: store a start",
                   "metadata: upgrade", "serve backlog", "serve live", "serve stalled disk",
                   "serve recovery"):
        assert any(n.startswith(prefix) for n in names), (prefix, names)
    assert report["codec"]["pick"] in ("zstd", "blosc-lz4", "blosc-zstd")
