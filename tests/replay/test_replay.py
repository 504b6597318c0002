"""Replaying saved document streams (issue 4): the same beamtime as live, idempotent, resumable.

Acceptance: runs of every kind the suite makes (ophyd.sim count, scan, grid,
baseline, monitor, 2-D frames, aborted, failed, NPY_SEQ files; ophyd-async
step and fly scans), saved in every format, replay into a beamtime identical
to the one the live callback wrote (see ``beamtime_dump`` for what is
compared); replaying twice changes nothing; a truncated file keeps every
complete run, names file and line, leaves the cut run open, and replaying the
whole file afterwards completes it.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import threading
from pathlib import Path

import pytest

from resonance_callback import ReplayError, replay

from ..beamtime_dump import differences, dump_beamtime
from ..conftest import sql
from ..replay_corpus import FORMATS, Corpus, save
from .test_formats import BY_ID, write


def copy_beamtime(db_path: Path, target: Path) -> Path:
    """A private copy of a beamtime (database and frame store)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(db_path, target / db_path.name)
    shutil.copytree(db_path.with_suffix(".zarr"), (target / db_path.name).with_suffix(".zarr"))
    return target / db_path.name


def run_of(docs, name: str = "start", **match) -> dict:
    return next(d for n, d in docs if n == name and all(d.get(k) == v for k, v in match.items()))


def test_the_corpus_has_every_kind_of_run(kinds: Corpus, kinds_dump) -> None:
    plans = {d["plan_name"] for d in kinds.of("start")}
    assert {"count", "scan", "grid_scan", "monitored", "aborted", "failed"} <= plans
    assert {n for (n,) in sql(kinds.db_path, "SELECT DISTINCT name FROM streams")} == {
        "primary", "baseline", "det_sigma_monitor"}
    assert {s for (s,) in sql(kinds.db_path, "SELECT exit_status FROM runs")} == {
        "success", "aborted", "failed"}
    external = {n for (n,) in sql(kinds.db_path, "SELECT DISTINCT name FROM external_documents")}
    assert external == {"resource", "datum", "stream_resource", "stream_datum"}
    assert sql(kinds.db_path, "SELECT count(*) FROM events WHERE derived = 1") == [(4,)]
    assert len(kinds_dump["arrays"]) == 4  # direct_img, NPY_SEQ img, step and fly det
    assert kinds_dump["rejected_documents"] == kinds_dump["unresolved_frames"] == []


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_replay_writes_the_beamtime_the_live_callback_wrote_and_again_changes_nothing(
    kinds: Corpus, kinds_dump, tmp_path: Path, fmt: str
) -> None:
    source = save(fmt, kinds.docs, tmp_path / "saved")
    db_path = tmp_path / "replayed.db"
    summary = replay(source, db_path)
    first = dump_beamtime(db_path)
    assert differences(first, kinds_dump) == {}
    assert (summary.runs, summary.runs_added, summary.runs_resumed) == (11, 11, 0)
    assert (summary.events_added, summary.frames_added) == (38, 13)
    assert summary.rejected == summary.already_stored == 0 and summary.runs_open == []
    assert summary.ok and summary.error is None

    again = replay(source, db_path)
    assert dump_beamtime(db_path) == first
    assert (again.runs_added, again.events_added, again.frames_added) == (0, 0, 0)
    assert again.runs_resumed == 11 and again.rejected == 0
    assert again.already_stored == again.documents == summary.documents


@pytest.mark.parametrize("writer_id", ["json-seq", "msgpack-objects", "array-of-pairs"])
def test_interleaved_runs_replay_into_the_live_beamtime(
    interleaved: Corpus, tmp_path: Path, writer_id: str
) -> None:
    assert [n for n, _ in interleaved.docs[:2]] == ["start", "start"]
    source = write(BY_ID[writer_id], interleaved.docs, tmp_path / "saved")
    summary = replay(source, tmp_path / "replayed.db")
    assert summary.runs == summary.runs_added == 2
    assert differences(dump_beamtime(tmp_path / "replayed.db"),
                       dump_beamtime(interleaved.db_path)) == {}


def test_the_saved_stream_of_a_session_replayed_into_its_own_beamtime_changes_nothing(
    kinds: Corpus, kinds_dump, tmp_path: Path
) -> None:
    db_path = copy_beamtime(kinds.db_path, tmp_path / "own")
    summary = replay(save("json-seq", kinds.docs, tmp_path / "saved"), db_path)
    assert dump_beamtime(db_path) == kinds_dump
    assert summary.runs_resumed == 11 and summary.already_stored == summary.documents


# -- truncated files -----------------------------------------------------------------------


CUT_RUNS = {"direct_img": 5, "failed": 7, "ophyd.sim-img": 8, "ophyd-async-step": 9,
            "ophyd-async-fly": 10}


@pytest.mark.parametrize("kind", list(CUT_RUNS))
def test_truncated_file_keeps_complete_runs_names_file_and_line_and_resumes(
    kinds: Corpus, kinds_dump, tmp_path: Path, kind: str
) -> None:
    runs = kinds.runs()
    index = CUT_RUNS[kind]
    cut_run = runs[index]
    full = save("json-seq", kinds.docs, tmp_path / "saved")
    lines = full.read_bytes().splitlines(keepends=True)
    # json-seq writes one document per line: cut through the run's middle document
    line = sum(len(run) for run in runs[:index]) + len(cut_run) // 2 + 1
    damaged = tmp_path / "damaged.json-seq"
    damaged.write_bytes(b"".join(lines[:line - 1]) + lines[line - 1][:40])
    db_path = tmp_path / "replayed.db"

    with pytest.raises(ReplayError) as info:
        replay(damaged, db_path)
    assert str(info.value).startswith(f"{damaged} line {line}: ")
    summary = info.value.summary
    cut_uid = cut_run[0][1]["uid"]
    assert summary.runs_open == [cut_uid] and summary.error == str(info.value)
    assert summary.runs == summary.runs_added == index + 1
    live = dict(sql(kinds.db_path, "SELECT uid, exit_status FROM runs"))
    stored = dict(sql(db_path, "SELECT uid, exit_status FROM runs"))
    before = [run[0][1]["uid"] for run in runs[:index]]
    assert stored == {**{uid: live[uid] for uid in before}, cut_uid: None}  # NULL, not failed
    count = ("SELECT s.run_uid, count(e.uid) FROM streams s LEFT JOIN events e "
             "ON e.stream_uid = s.uid GROUP BY s.run_uid")
    live_events, stored_events = dict(sql(kinds.db_path, count)), dict(sql(db_path, count))
    assert all(stored_events.get(uid, 0) == live_events.get(uid, 0) for uid in before)

    resumed = replay(full, db_path)
    diff = differences(dump_beamtime(db_path), kinds_dump)
    kept = diff.pop("rejected_documents")["only in got"]  # the damage, kept with its reason
    assert diff == {} and [row[1:3] for row in kept] == [("damaged", None)]
    assert f"{damaged} line {line}: unterminated JSON" in kept[0][3]
    assert resumed.runs_resumed == index + 1 and resumed.rejected == 0


# -- stored uids with other content -------------------------------------------------------


def replay_changed(kinds: Corpus, tmp_path: Path, change) -> tuple[Path, list]:
    """Replay the corpus, then a copy of it changed by ``change(docs)``; return db and docs."""
    db_path = tmp_path / "replayed.db"
    replay(save("json-seq", kinds.docs, tmp_path / "original"), db_path)
    docs = copy.deepcopy(kinds.docs)
    change(docs)
    return db_path, docs


def rejected(db_path: Path) -> list[tuple[str, str, str]]:
    return sql(db_path, "SELECT name, uid, reason FROM rejected_documents ORDER BY id")


def test_event_reusing_a_stored_uid_with_other_values_is_rejected_once_and_counted(
    kinds: Corpus, kinds_dump, tmp_path: Path
) -> None:
    event = copy.deepcopy(next(d for n, d in kinds.docs if n == "event" and "det" in d["data"]))

    def change(docs):
        for _, doc in docs:
            if doc.get("uid") == event["uid"]:
                doc["data"]["det"] += 1.0

    db_path, docs = replay_changed(kinds, tmp_path, change)
    source = save("json-seq", docs, tmp_path / "changed")
    summary = replay(source, db_path)
    assert summary.rejected == 1 and not summary.ok
    [(name, uid, reason)] = rejected(db_path)
    assert (name, uid) == ("event", event["uid"])
    assert f"event {event['uid']} is already stored with different content (data)" in reason
    dump = dump_beamtime(db_path)
    assert differences({**dump, "rejected_documents": []}, kinds_dump) == {}  # value as first

    again = replay(source, db_path)
    assert again.rejected == 1  # reported again ...
    assert len(rejected(db_path)) == 1  # ... but kept once


def test_start_reusing_a_stored_uid_with_other_content_rejects_its_whole_run(
    kinds: Corpus, kinds_dump, tmp_path: Path
) -> None:
    start = run_of(kinds.docs, plan_name="scan")
    run = next(run for run in kinds.runs() if run[0][1]["uid"] == start["uid"])
    db_path, docs = replay_changed(
        kinds, tmp_path, lambda docs: run_of(docs, uid=start["uid"]).update(operator="mallory"))
    summary = replay(save("json-seq", docs, tmp_path / "changed"), db_path)
    assert summary.rejected == len(run)  # start, descriptor, events, stop: nothing stored
    reasons = rejected(db_path)
    assert reasons[0][:2] == ("start", start["uid"])
    assert "already stored with different content (metadata)" in reasons[0][2]
    assert all(f"is refused: its start {start['uid']} differs from the one stored" in r
               for *_, r in reasons[1:])
    dump = dump_beamtime(db_path)
    assert differences({**dump, "rejected_documents": []}, kinds_dump) == {}


def test_stop_differing_from_the_stored_stop_is_rejected(
    kinds: Corpus, tmp_path: Path
) -> None:
    start = run_of(kinds.docs, plan_name="count")

    def change(docs):
        stop = run_of(docs, "stop", run_start=start["uid"])
        stop.update(exit_status="abort", reason="changed later")

    db_path, docs = replay_changed(kinds, tmp_path, change)
    summary = replay(save("json-seq", docs, tmp_path / "changed"), db_path)
    assert summary.rejected == 1
    [(name, _, reason)] = rejected(db_path)
    assert name == "stop" and f"of run {start['uid']} differs" in reason
    assert sql(db_path, "SELECT exit_status FROM runs WHERE uid = ?", (start["uid"],)) == [
        ("success",)]


def test_descriptor_differing_in_a_resumed_run_is_rejected_with_its_events(
    kinds: Corpus, tmp_path: Path
) -> None:
    start = run_of(kinds.docs, plan_name="count")
    descriptor = run_of(kinds.docs, "descriptor", run_start=start["uid"])
    n_events = len([d for n, d in kinds.docs
                    if n == "event" and d["descriptor"] == descriptor["uid"]])

    def change(docs):
        run_of(docs, "descriptor", uid=descriptor["uid"])["data_keys"]["det"]["precision"] = 9

    db_path, docs = replay_changed(kinds, tmp_path, change)
    summary = replay(save("json-seq", docs, tmp_path / "changed"), db_path)
    assert summary.rejected == 1 + n_events
    assert rejected(db_path)[0][:2] == ("descriptor", descriptor["uid"])
    assert "different content (data_keys, document)" in rejected(db_path)[0][2]


# -- detector files -----------------------------------------------------------------------


def test_detector_files_are_not_read_again_for_runs_already_stored(
    kinds: Corpus, kinds_dump, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    shutil.copytree(kinds.directory / "files", files)
    source = save("json-seq", kinds.docs, tmp_path / "saved")
    db_path = tmp_path / "replayed.db"
    root_map = {str(kinds.directory / "files"): str(files)}
    replay(source, db_path, root_map=root_map)
    shutil.rmtree(files)
    again = replay(source, db_path, root_map=root_map)
    assert again.rejected == 0
    assert sql(db_path, "SELECT count(*) FROM unresolved_frames") == [(0,)]
    assert differences(dump_beamtime(db_path), kinds_dump) == {}


def test_relative_detector_roots_resolve_against_the_replayed_files_directory(
    kinds: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = next(run for run in kinds.runs() if any(n == "resource" for n, _ in run))
    docs = copy.deepcopy(run)
    for name, doc in docs:
        if name == "resource":
            assert Path(doc["root"]) == kinds.directory / "files" / "npy"
            doc["root"] = "frames"  # relative: beside the saved file
    shutil.copytree(kinds.directory / "files" / "npy", tmp_path / "saved" / "frames")
    source = write(BY_ID["json-seq"], docs, tmp_path / "saved")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    summary = replay(source, tmp_path / "replayed.db")
    assert summary.frames_added == 3 and summary.ok
    assert sql(tmp_path / "replayed.db", "SELECT count(*) FROM unresolved_frames") == [(0,)]
    uid = run[0][1]["uid"]
    assert sql(tmp_path / "replayed.db", "SELECT count(*) FROM image_refs") == sql(
        kinds.db_path, "SELECT count(*) FROM image_refs i JOIN events e ON e.uid = i.event_uid "
                       "JOIN streams s ON s.uid = e.stream_uid WHERE s.run_uid = ?", (uid,))


def test_summary_to_dict_is_json(kinds: Corpus, tmp_path: Path) -> None:
    summary = replay(save("json-seq", kinds.docs, tmp_path / "saved"), tmp_path / "r.db")
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["ok"] is True and data["runs"] == 11 and data["files"] == [
        str(tmp_path / "saved" / "docs.json-seq")]


def test_documents_read_back_by_the_reader_replay_into_an_identical_beamtime(
    kinds: Corpus, kinds_dump, tmp_path: Path
) -> None:
    from resonance_callback import open_beamtime

    with open_beamtime(kinds.db_path) as beamtime:
        docs = [pair for run in sorted(beamtime.values(), key=lambda run: run.time_start)
                for pair in run.documents(fill=False)]
    summary = replay(write(BY_ID["json-seq"], docs, tmp_path / "saved"), tmp_path / "again.db")
    assert summary.ok and summary.runs_added == 11
    assert differences(dump_beamtime(tmp_path / "again.db"), kinds_dump) == {}


def test_a_file_replays_on_the_callers_thread_and_standard_input_with_a_writer_thread(
    kinds: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    monkeypatch.setattr(importlib.import_module("resonance_callback.replay._replay"),
                        "PROGRESS_INTERVAL", 0.0)
    source = save("suitcase-jsonl", kinds.docs, tmp_path / "saved")

    def writer_threads(target: list[bool]):
        return lambda summary: target.append(any(
            t.name == "resonance-writer" for t in threading.enumerate()))

    from_file: list[bool] = []
    replay(source, tmp_path / "file.db", progress=writer_threads(from_file))
    from_stream: list[bool] = []
    with open(source, "rb") as f:
        stream = io.BytesIO(f.read())
    replay(stream, tmp_path / "stream.db", progress=writer_threads(from_stream))
    assert len(from_file) > 10 and not any(from_file)
    assert any(from_stream[:-1])
    assert differences(dump_beamtime(tmp_path / "file.db"),
                       dump_beamtime(tmp_path / "stream.db")) == {}
