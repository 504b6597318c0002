"""An index of many runs (index rows only, no beamtime behind them), and a count of the
start documents read back from it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resonance_callback import jsoncodec
from resonance_callback.index import IndexWriter

#: The key only the bulk runs' start documents hold.
MARK = "bulk_run"
T0 = 1.6e9


def bulk_start(i: int) -> dict[str, Any]:
    return {"uid": f"bulk-{i:05d}", "time": T0 + 10 * i, "scan_id": i, "plan_name": "count",
            "sample": f"S{i % 7}", MARK: True, "proposal": i % 5}


def add_bulk(index: Path | str, root: Path, n: int) -> list[str]:
    """Index ``n`` runs of one researcher's beamtime that is not there; their uids, oldest
    first (one run every 10 s from 2020-09-13)."""
    uids = []
    with IndexWriter(index) as writer:
        rid = writer.register_researcher("Bulk", root)
        bid = writer.register_beamtime(rid, "bulk", root / "bulk.db")
        for i in range(n):
            doc = bulk_start(i)
            writer.index_run(doc["uid"], rid, bid, "count", sample_name=doc["sample"],
                             time_start=doc["time"], scan_id=i, metadata=doc)
            uids.append(doc["uid"])
    return uids


@contextlib.contextmanager
def parsed_starts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Count the bulk runs' start documents decoded (``jsoncodec.loads``) in the block:
    ``[n]``, read after the block."""
    count = [0]
    loads = jsoncodec.loads

    def counting(text: str | bytes | None) -> Any:
        if text is not None and MARK in (text if isinstance(text, str) else text.decode()):
            count[0] += 1
        return loads(text)

    with monkeypatch.context() as patch:
        patch.setattr(jsoncodec, "loads", counting)
        yield count
