"""Runs composed with event-model and published as they are, and what a served beamtime holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from event_model import compose_run

from resonance_callback.read import check_beamtime

from ..beamtime_dump import differences, dump_beamtime

Publish = Callable[[str, dict[str, Any]], Any]


def publish_open_run(publish: Publish, events: int = 3, **metadata: Any) -> tuple[Any, Any]:
    """Publish start, descriptor and ``events`` events of one run, no stop; its
    ``(run bundle, descriptor bundle)`` to go on with."""
    bundle = compose_run(metadata=metadata)
    publish("start", bundle.start_doc)
    desc = bundle.compose_descriptor(name="primary", data_keys={
        "x": {"source": "sim", "dtype": "number", "shape": []}})
    publish("descriptor", desc.descriptor_doc)
    for i in range(events):
        publish("event", desc.compose_event(data={"x": float(i)}, timestamps={"x": 1.0}))
    return bundle, desc


def publish_run(publish: Publish, events: int = 3, **metadata: Any) -> str:
    """Publish start, descriptor, ``events`` events and stop of one run; its uid."""
    bundle, _ = publish_open_run(publish, events, **metadata)
    publish("stop", bundle.compose_stop())
    return bundle.start_doc["uid"]


def runs_in(db: Path) -> dict[str, tuple[str | None, int]]:
    """``{run uid: (exit_status, events)}`` of a beamtime."""
    with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT r.uid, r.exit_status, (SELECT count(*) FROM events e JOIN streams s "
            "ON e.stream_uid = s.uid WHERE s.run_uid = r.uid) FROM runs r").fetchall()
    return {uid: (status, n) for uid, status, n in rows}


def rejected_in(db: Path) -> list[tuple[str, str | None, str]]:
    """``(name, run_uid, reason)`` of every rejected document of a beamtime."""
    with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT name, run_uid, reason FROM rejected_documents "
                            "ORDER BY id").fetchall()


def kept(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What of ``before`` (a beamtime dump) is not in ``after``: empty when nothing changed."""
    lost: dict[str, Any] = {}
    for table, rows in before.items():
        later = after.get(table)
        if isinstance(rows, dict):
            gone = {k: v for k, v in rows.items() if later.get(k) != v}
        else:
            gone = [r for r in rows if r not in later]
        if gone:
            lost[table] = gone
    return lost


def peak_rss_bytes(pid: int) -> int:
    """The peak resident memory of a running process (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def assert_served_as_local(tmp_path: Path, rejected: int = 0) -> dict[str, Any]:
    """``served.db`` holds what the in-process ``local.db`` holds, row for row and frame for
    frame, ``rejected`` documents rejected on both sides, and (none rejected) passes
    ``check``; returns the dump of ``local.db``."""
    got, expected = dump_beamtime(tmp_path / "served.db"), dump_beamtime(tmp_path / "local.db")
    diff = differences(got, expected)
    assert diff == {}, diff  # a helper module: pytest does not rewrite this assert
    assert len(expected["rejected_documents"]) == rejected
    if not rejected:  # a rejected document is one of check's problems
        report = check_beamtime(tmp_path / "served.db")
        assert report.ok, report.lines()
    return expected
