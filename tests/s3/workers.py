"""Process entry points for the object-storage tests (importable by spawned children)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from resonance_callback.store import RunWriter

DATA_KEYS = {"img": {"dtype": "array", "shape": [4, 4], "source": "sim", "external": "STORE"}}


def write_frames(writer: RunWriter, n: int, start: int = 0) -> None:
    """Write ``n`` events, each with one 4x4 frame of its index."""
    for i in range(start, start + n):
        uid = writer.write_event({"img": i}, {}, seq_num=i + 1)
        writer.write_image(uid, "img", np.full((4, 4), i, dtype=np.uint16))


def die_mid_run(db_path: Path, url: str, committed: int, uncommitted: int) -> None:
    """Open run ``cut`` with frames at ``url``, commit ``committed`` frames, write more, die.

    The ``uncommitted`` frames fill whole shards, which are put in the bucket with no
    row pointing at them; the process ends with ``os._exit``, nothing closed.
    """
    writer = RunWriter(db_path, None, commit_every=10**6, commit_interval=3600.0, frames=url)
    writer.open()
    writer.open_run("count", uid="cut")
    writer.open_stream("primary", DATA_KEYS)
    write_frames(writer, committed)
    writer.commit()
    write_frames(writer, uncommitted, start=committed)
    time.sleep(1.0)  # the write threads put the full shards
    os._exit(0)
