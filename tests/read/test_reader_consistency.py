"""A reader in another connection never sees a detector-file event before its frame."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import bluesky.plans as bp
from bluesky import RunEngine

from resonance_callback import RunWriterCallback


def committed_events_and_frames(db: Path) -> tuple[int, int]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        events = conn.execute("SELECT count(*) FROM events e JOIN streams s "
                              "ON s.uid = e.stream_uid WHERE s.name = 'primary'").fetchone()[0]
        frames = conn.execute("SELECT count(*) FROM image_refs").fetchone()[0]
    finally:
        conn.close()
    return events, frames


def test_ophyd_v1_event_is_committed_together_with_its_frame(
        RE: RunEngine, sim: dict[str, Any], tmp_path: Path) -> None:  # noqa: N803
    db = tmp_path / "bt.db"
    # Inline writer and a commit after every row: the state after each document is final.
    callback = RunWriterCallback(db, threaded=False, commit_every=1)
    seen: list[tuple[int, int]] = []

    def reader(name: str, doc: dict[str, Any]) -> None:
        if name == "event":
            seen.append(committed_events_and_frames(db))

    RE.subscribe(callback)
    RE.subscribe(reader)
    try:
        RE(bp.count([sim["img"]], num=5))
    finally:
        callback.close()
    assert seen == [(n, n) for n in range(1, 6)]
