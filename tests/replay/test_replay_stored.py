"""Replaying a stored run again: chunks of stored events are read first and compared in bulk.

Every chunk after one found stored whole is read before it is inserted
(``store/_stored_events.py``); these tests pin what that shortcut must keep: a
differing event in the middle of a stored run is still rejected, a run stored in
part still gets the rest (also from a chunk half stored, half new), an event
stored with the same values in other JSON text is still skipped, and the counts
are those of a row-by-row comparison. Runs are cut in chunks of
:data:`CHUNK` events (``commit_every``), so a 60-event scan is read in 8 chunks.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import bluesky.plans as bp
import pytest
from bluesky import RunEngine
from ophyd.sim import det, motor

from resonance_callback import replay

from ..conftest import sql

CHUNK = 8
N = 60

Docs = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def scan_docs() -> Docs:
    """A 60-point ophyd.sim scan, as the RunEngine emitted it."""
    docs: Docs = []
    engine = RunEngine({})
    engine(bp.scan([det], motor, 0, 1, N), lambda name, doc: docs.append((name, doc)))
    assert [name for name, _ in docs].count("event") == N
    return docs


def save(docs: Docs, path: Path) -> Path:
    """The documents as suitcase-jsonl writes them."""
    with open(path, "w", encoding="utf-8") as f:
        for name, doc in docs:
            f.write(json.dumps([name, doc], default=lambda v: v.tolist()) + "\n")
    return path


def events_table(db: Path) -> list[tuple]:
    return sql(db, "SELECT uid, seq_num, time, data, timestamps, filled FROM events "
                   "ORDER BY seq_num")


def event(docs: Docs, seq_num: int) -> dict[str, Any]:
    return next(doc for name, doc in docs if name == "event" and doc["seq_num"] == seq_num)


def test_an_event_differing_mid_run_is_rejected_and_the_rest_of_the_run_skipped(
    scan_docs: Docs, tmp_path: Path
) -> None:
    db = tmp_path / "bt.db"
    replay(save(scan_docs, tmp_path / "first.jsonl"), db, commit_every=CHUNK)
    stored = events_table(db)
    changed = copy.deepcopy(scan_docs)
    event(changed, 43)["data"]["det"] += 1.0  # in the 6th chunk: read first by then
    summary = replay(save(changed, tmp_path / "changed.jsonl"), db, commit_every=CHUNK,
                     raise_on_damage=False)
    assert summary.rejected == 1 and summary.events_added == 0
    assert summary.already_stored == len(scan_docs) - 1
    [(name, uid, reason)] = sql(db, "SELECT name, uid, reason FROM rejected_documents")
    assert (name, uid) == ("event", event(changed, 43)["uid"])
    assert f"event {uid} is already stored with different content (data)" in reason
    assert events_table(db) == stored  # the value stored first is kept


def test_a_run_stored_in_part_gets_the_rest_from_a_chunk_half_stored_half_new(
    scan_docs: Docs, tmp_path: Path
) -> None:
    db = tmp_path / "bt.db"
    cut = 2 + 4 * CHUNK + 3  # start, descriptor, 35 events: the 5th chunk holds 3 of them
    replay(save(scan_docs[:cut], tmp_path / "cut.jsonl"), db, commit_every=CHUNK)
    assert sql(db, "SELECT count(*) FROM events") == [(cut - 2,)]
    summary = replay(save(scan_docs, tmp_path / "whole.jsonl"), db, commit_every=CHUNK)
    assert summary.events_added == N - (cut - 2) and summary.rejected == 0
    assert summary.already_stored == cut and summary.runs_resumed == 1
    assert summary.runs_open == []
    straight = tmp_path / "straight.db"
    replay(tmp_path / "whole.jsonl", straight, commit_every=CHUNK)
    assert events_table(db) == events_table(straight)


def test_an_event_stored_with_its_values_in_another_key_order_is_skipped_not_rejected(
    scan_docs: Docs, tmp_path: Path
) -> None:
    db = tmp_path / "bt.db"
    replay(save(scan_docs, tmp_path / "first.jsonl"), db, commit_every=CHUNK)
    reordered = copy.deepcopy(scan_docs)
    doc = event(reordered, 43)
    doc["data"] = dict(reversed(doc["data"].items()))  # other text, the same values
    doc["timestamps"] = dict(reversed(doc["timestamps"].items()))
    summary = replay(save(reordered, tmp_path / "reordered.jsonl"), db, commit_every=CHUNK)
    assert summary.rejected == 0 and summary.events_added == 0
    assert summary.already_stored == len(scan_docs)


def test_an_event_given_twice_among_stored_ones_is_stored_once_and_counted(
    scan_docs: Docs, tmp_path: Path
) -> None:
    db = tmp_path / "bt.db"
    replay(save(scan_docs[:2 + 3 * CHUNK], tmp_path / "cut.jsonl"), db, commit_every=CHUNK)
    twice = [*scan_docs[:2 + 29], ("event", event(scan_docs, 29)), *scan_docs[2 + 29:]]
    summary = replay(save(twice, tmp_path / "twice.jsonl"), db, commit_every=CHUNK)
    assert summary.rejected == 0 and summary.events_added == N - 3 * CHUNK
    assert summary.already_stored == 2 + 3 * CHUNK + 1  # the second copy of event 29
    assert sql(db, "SELECT count(*), count(DISTINCT uid) FROM events") == [(N, N)]


def test_an_event_the_store_cannot_take_among_stored_ones_is_rejected_alone(
    scan_docs: Docs, tmp_path: Path
) -> None:
    db = tmp_path / "bt.db"
    replay(save(scan_docs, tmp_path / "first.jsonl"), db, commit_every=CHUNK)
    extra = copy.deepcopy(event(scan_docs, N))
    extra.update(uid="too-late", seq_num=N + 1, time=2**70)  # no 64-bit number: refused
    docs = [*scan_docs[:-1], ("event", extra), scan_docs[-1]]
    summary = replay(save(docs, tmp_path / "late.jsonl"), db, commit_every=CHUNK)
    assert summary.rejected == 1 and summary.events_added == 0
    assert summary.already_stored == len(scan_docs)
    [(uid, reason)] = sql(db, "SELECT uid, reason FROM rejected_documents")
    assert uid == "too-late" and "OverflowError" in reason


def test_an_event_differing_in_a_new_connections_first_chunk_is_rejected_alone(
    tmp_path: Path,
) -> None:
    from event_model import compose_run

    run = compose_run()
    desc = run.compose_descriptor(name="primary", data_keys={
        "x": {"dtype": "number", "shape": [], "source": "sim"}})
    docs: Docs = [("start", run.start_doc), ("descriptor", desc.descriptor_doc)]
    docs += [("event", desc.compose_event(data={"x": float(i)}, timestamps={"x": 1.0 + i},
                                          seq_num=i + 1)) for i in range(300)]
    docs.append(("stop", run.compose_stop()))
    db = tmp_path / "bt.db"
    replay(save(docs, tmp_path / "first.jsonl"), db, commit_every=300)  # one chunk
    stored = events_table(db)
    changed = copy.deepcopy(docs)
    event(changed, 251)["data"]["x"] += 0.5  # compared in the third of three statements
    summary = replay(save(changed, tmp_path / "changed.jsonl"), db, commit_every=300,
                     raise_on_damage=False)
    assert summary.rejected == 1 and summary.events_added == 0
    assert summary.already_stored == len(docs) - 1
    [(uid,)] = sql(db, "SELECT uid FROM rejected_documents")
    assert uid == event(changed, 251)["uid"] and events_table(db) == stored
