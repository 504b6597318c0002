"""The events of a run are counted once: ``runs``, ``show``, ``search`` and ``reindex`` agree.

An ophyd-async fly scan (``kickoff`` / ``collect_while_completing``) has no
event documents: its rows are derived by the writer from ``stream_datum``
documents (``derived = 1``). They are events of the run all the same, as
``Run.table()`` shows them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bluesky.plans as bp
from click.testing import CliRunner
from ophyd.sim import det

from resonance_callback import RunIndexer, RunWriterCallback, open_beamtime, reindex, search
from resonance_callback.cli import main

from ..external.test_external import blob_detector, fly_plan


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


def test_runs_show_search_and_reindex_count_a_fly_scans_derived_rows_alike(
        RE, tmp_path: Path) -> None:
    (tmp_path / "bt").mkdir()
    (tmp_path / "det").mkdir()
    db_path = tmp_path / "bt" / "beamtime.db"
    index_path = tmp_path / "index.db"
    indexer = RunIndexer(index_path, "Alice", tmp_path, "2026-11", db_path)
    with RunWriterCallback(db_path, index=indexer) as callback:
        RE.subscribe(callback)
        (fly,) = RE(fly_plan(blob_detector(tmp_path / "det"), events=5,
                             collections_per_event=1)).run_start_uids
        (step,) = RE(bp.count([det], num=3)).run_start_uids
    with open_beamtime(db_path) as bt:
        expected = {uid: {name: len(bt[uid].table(name)) for name in bt[uid].streams}
                    for uid in (fly, step)}
    assert expected == {fly: {"primary": 5}, step: {"primary": 3}}

    listed = json.loads(invoke("runs", db_path, "--json").stdout)
    assert {run["uid"]: run["events"] for run in listed} == expected
    for uid in (fly, step):
        shown = json.loads(invoke("show", db_path, uid, "--json").stdout)
        assert {s["name"]: s["events"] for s in shown["streams"]} == expected[uid]
    live = {run.uid: run.num_events for run in search(index_path)}
    assert live == expected
    report = reindex(index_path)
    assert report.ok and report.runs_indexed == 2
    assert {run.uid: run.num_events for run in search(index_path)} == expected
