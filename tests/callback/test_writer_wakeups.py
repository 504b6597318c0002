"""The writer thread gathers frame events before it wakes, and still stores each one unprompted."""

from __future__ import annotations

import time
from pathlib import Path

import event_model
import numpy as np

from resonance_callback import RunWriterCallback
from resonance_callback.callback import _worker

from ..conftest import sql


def frame_run(n: int, shape: tuple[int, int]) -> tuple[list[tuple[str, dict]], dict]:
    bundle = event_model.compose_run(time=1.0)
    desc = bundle.compose_descriptor(
        name="primary", data_keys={"img": {"dtype": "array", "shape": list(shape), "source": "s"}},
        time=1.0)
    docs = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    docs += [("event", desc.compose_event(data={"img": np.full(shape, i, np.uint16)},
                                          timestamps={"img": 1.0 + i}, seq_num=i + 1,
                                          time=1.0 + i)) for i in range(n)]
    return docs, bundle.compose_stop(time=2.0 + n)


def test_frames_below_the_wake_threshold_are_stored_without_another_document(
        db_path: Path) -> None:
    docs, stop = frame_run(3, (4, 4))
    assert 3 * 4 * 4 * 2 < _worker.FRAME_WAKE_BYTES  # none of them wakes the writer alone
    callback = RunWriterCallback(db_path, commit_interval=0.2)
    for name, doc in docs:
        callback(name, doc)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # committed by the writer alone, within seconds
        if sql(db_path, "SELECT count(*) FROM image_refs")[0][0] == 3:
            break
        time.sleep(0.05)
    assert sql(db_path, "SELECT count(*) FROM image_refs")[0][0] == 3
    callback("stop", stop)
    callback.close()


def test_frames_past_the_wake_threshold_and_below_are_all_stored_in_order(
        db_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(_worker, "FRAME_WAKE_BYTES", 3 * 16 * 16 * 2)  # every third frame wakes
    docs, stop = frame_run(20, (16, 16))
    with RunWriterCallback(db_path) as callback:
        for name, doc in docs:
            callback(name, doc)
        callback("stop", stop)
    rows = sql(db_path, "SELECT e.seq_num, r.frame_index FROM image_refs r "
                        "JOIN events e ON e.uid = r.event_uid ORDER BY e.seq_num")
    assert rows == [(i + 1, i) for i in range(20)]


def test_inline_writer_keeps_an_event_that_comes_after_the_commit_interval(
        db_path: Path) -> None:
    """threaded=False: the event that finds the held batch too old is stored with the next one.

    Holding the events of a slow scan, the inline writer stores them once the oldest is
    ``commit_interval`` old; the event that set that off used to be added to the batch
    just stored, and was lost without a word (a monitored count lost its last reading).
    """
    bundle = event_model.compose_run(time=1.0)
    desc = bundle.compose_descriptor(
        name="primary", data_keys={"x": {"dtype": "number", "shape": [], "source": "s"}},
        time=1.0)
    with RunWriterCallback(db_path, threaded=False, commit_interval=0.05) as callback:
        callback("start", bundle.start_doc)
        callback("descriptor", desc.descriptor_doc)
        for i in range(1, 6):
            callback("event", desc.compose_event(data={"x": float(i)}, timestamps={"x": 1.0},
                                                 seq_num=i, time=1.0 + i))
            time.sleep(0.06)  # each event finds the one before it older than the interval
        callback("stop", bundle.compose_stop(time=9.0))
    assert sql(db_path, "SELECT seq_num FROM events ORDER BY seq_num") == [(i,) for i in
                                                                         range(1, 6)]
