"""A writer resuming a run whose writer died trims the run's frames past its last commit.

With another writer alive (a ``serve`` fleet's surviving member) ``repair`` defers the
trimming, so the writer that carries on the run does it, and makes the run its own.
"""

from __future__ import annotations

import copy
import multiprocessing
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from bluesky import RunEngine
from bluesky.plans import count
from ophyd.sim import direct_img

from resonance_callback import RunWriterCallback
from resonance_callback.store import RunWriter

from ..conftest import sql
from .workers import die_between_growing_and_committing

CTX = multiprocessing.get_context("spawn")


def documents(num: int) -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    RE = RunEngine({})  # noqa: N806
    RE.subscribe(lambda name, doc: docs.append((name, copy.deepcopy(doc))))
    RE(count([direct_img], num=num))
    return docs


def killed_mid_commit(db_path: Path, docs: list[Any], committed: int) -> None:
    process = CTX.Process(target=die_between_growing_and_committing,
                          args=(db_path, docs, committed))
    process.start()
    process.join(120)
    assert process.exitcode == 0


def test_a_run_resumed_while_another_writer_lives_has_its_orphan_frames_trimmed(tmp_path):
    db_path = tmp_path / "bt.db"
    docs = documents(6)
    survivor = RunWriterCallback(db_path, threaded=False)
    survivor.flush()  # open: alive while the other writer dies, so nothing is repaired
    killed_mid_commit(db_path, docs[:-1], committed=5)  # 3 of 6 events committed, no stop
    frames = [doc["data"]["img"] for name, doc in docs if name == "event"]
    group = zarr.open_group(db_path.with_suffix(".zarr"), mode="r")
    (path,) = {p for (p,) in sql(db_path, "SELECT zarr_path FROM image_refs")}
    assert sql(db_path, "SELECT count(*) FROM image_refs") == [(3,)]
    assert group[path].shape[0] == 6  # three frames past the last commit

    for name, doc in docs:  # the run fed again, from its start
        survivor(name, doc)
    survivor.close()

    refs = sql(db_path, "SELECT e.seq_num, i.frame_index FROM image_refs i "
                        "JOIN events e ON e.uid = i.event_uid ORDER BY e.seq_num")
    assert refs == [(n, n - 1) for n in range(1, 7)]
    array = zarr.open_group(db_path.with_suffix(".zarr"), mode="r")[path]
    assert array.shape[0] == 6
    np.testing.assert_array_equal(array[:], np.stack(frames))
    assert sql(db_path, "SELECT exit_status FROM runs") == [("success",)]


def test_a_resumed_run_is_live_for_a_writer_opening_meanwhile(tmp_path):
    db_path = tmp_path / "bt.db"
    docs = documents(4)
    survivor = RunWriterCallback(db_path, threaded=False)
    survivor.flush()
    killed_mid_commit(db_path, docs[:-1], committed=3)
    for name, doc in docs[:4]:  # resumed: start, descriptor and two events
        survivor(name, doc)
    survivor.flush()
    with RunWriter(db_path, None):  # opening repairs: the run is not cut off, it is written
        pass
    assert sql(db_path, "SELECT exit_status FROM runs") == [(None,)]
    for name, doc in docs[4:]:
        survivor(name, doc)
    survivor.close()
    assert sql(db_path, "SELECT exit_status FROM runs") == [("success",)]
    assert sql(db_path, "SELECT count(*) FROM image_refs") == [(4,)]
