"""Damaged records: each is reported with where it is, and reading goes on after it."""

from __future__ import annotations

import gzip
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import msgpack
import pytest

from resonance_callback import ReplayError, replay
from resonance_callback.replay.formats import Damaged, Located, iter_located, iter_records

from ..conftest import sql
from ..hostile._stream import Stream, _plain


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="resonance_callback")


def pairs(stream: Stream) -> list[bytes]:
    return [(json.dumps([n, d], default=_plain) + "\n").encode()
            for n, d in stream.documents([])]


def objects(stream: Stream) -> list[bytes]:
    return [(json.dumps({"name": n, "doc": d}, default=_plain) + "\n").encode()
            for n, d in stream.documents([])]


def split(items: list[Located | Damaged]) -> tuple[list[Located], list[Damaged]]:
    return ([i for i in items if isinstance(i, Located)],
            [i for i in items if isinstance(i, Damaged)])


def test_every_damaged_line_is_reported_with_line_offset_and_size_and_reading_goes_on(
    tmp_path: Path,
) -> None:
    lines = objects(Stream())
    bad = [b"{not json}\n", b"[1, 2, 3]\n", b'{"name": "event", "doc": {"uid"\n']
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"".join([lines[0], bad[0], lines[1], bad[1], bad[2], *lines[2:]]))
    located, damaged = split(list(iter_records(path)))
    assert [loc.line for loc in located] == [1, 3, *range(6, 6 + len(lines) - 2)]
    assert [(d.line, d.length, d.rest_lost) for d in damaged] == [
        (2, len(bad[0]), False), (4, len(bad[1]), False), (5, len(bad[2]), False)]
    assert damaged[0].offset == len(lines[0])
    assert damaged[2].offset == len(lines[0]) + len(bad[0]) + len(lines[1]) + len(bad[1])
    assert "invalid JSON" in damaged[0].reason and "expected a [name, doc]" in damaged[1].reason
    assert damaged[2].message.startswith(f"{path} line 5: unterminated JSON")
    assert damaged[0].excerpt == "{not json}\n"


def test_strict_reading_still_stops_at_the_first_damage(tmp_path: Path) -> None:
    lines = pairs(Stream())
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"".join([*lines[:2], b"[1,,2]\n", *lines[2:]]))
    got = []
    with pytest.raises(ReplayError, match=r"run\.jsonl line 3: invalid JSON"):
        got.extend(iter_located(path))
    assert len(got) == 2


def test_json_array_element_that_is_no_pair_costs_itself_and_broken_json_ends_the_file(
    tmp_path: Path,
) -> None:
    docs = [{"name": n, "doc": d} for n, d in Stream().documents([])]
    path = tmp_path / "run.json"
    text = json.dumps(docs[:2], default=_plain)[:-1] + ', {"nope": 1}, ' + json.dumps(
        docs[2:], default=_plain)[1:]
    path.write_text(text)
    located, damaged = split(list(iter_records(path)))
    assert len(located) == len(docs) and len(damaged) == 1 and not damaged[0].rest_lost
    assert text.encode()[damaged[0].offset:].startswith(b'{"nope": 1}')
    assert damaged[0].length == len(b'{"nope": 1}')
    path.write_text(text.replace('{"nope": 1}', '{"nope": }'))
    located, damaged = split(list(iter_records(path)))
    assert len(located) == 2 and len(damaged) == 1 and damaged[0].rest_lost
    assert "invalid JSON" in damaged[0].reason


def test_a_file_of_a_directory_that_cannot_be_read_is_damaged_and_the_next_file_is_read(
    tmp_path: Path,
) -> None:
    (tmp_path / "d").mkdir()
    first, second = Stream(), Stream()
    (tmp_path / "d" / "01.jsonl.gz").write_bytes(
        gzip.compress(b"".join(pairs(first)))[:-30])  # cut short
    (tmp_path / "d" / "02.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    (tmp_path / "d" / "03.jsonl").write_bytes(b"".join(pairs(second)))
    located, damaged = split(list(iter_records(tmp_path / "d")))
    assert [(Path(d.path).name, d.rest_lost) for d in damaged] == [
        ("01.jsonl.gz", True), ("02.h5", True)]
    assert "gzip data ends early" in damaged[0].reason and "HDF5" in damaged[1].reason
    assert [loc.doc["uid"] for loc in located if loc.name == "start"][-1] == second.start["uid"]


def damaged_file(tmp_path: Path) -> tuple[Path, Stream, Stream]:
    cut, later = Stream(), Stream()
    lines = pairs(cut)
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"".join([*lines[:3], b"\x00\x01[1,,2]\n", *lines[3:], *pairs(later)]))
    return path, cut, later


def test_replay_stores_the_runs_after_the_damage_then_raises_with_every_damage_in_its_summary(
    tmp_path: Path,
) -> None:
    path, cut, later = damaged_file(tmp_path)
    db = tmp_path / "bt.db"
    with pytest.raises(ReplayError, match=rf"{path} line 4: invalid JSON") as info:
        replay(path, db)
    summary = info.value.summary
    assert summary.runs_added == 2 and summary.damaged_count == 1 and summary.rejected == 0
    assert summary.error == str(info.value) and not summary.ok
    assert sorted(sql(db, "SELECT uid, exit_status FROM runs")) == sorted(
        [(cut.start["uid"], "success"), (later.start["uid"], "success")])
    reported = summary.to_dict()["damaged"]
    assert json.loads(json.dumps(reported)) == reported
    assert reported[0]["line"] == 4 and reported[0]["excerpt"] == "\x00\x01[1,,2]\n"
    assert any("line 4: invalid JSON" in line for line in summary.lines())


def test_replaying_a_damaged_file_again_keeps_its_damage_once(tmp_path: Path) -> None:
    path, _, _ = damaged_file(tmp_path)
    db = tmp_path / "bt.db"
    first = replay(path, db, raise_on_damage=False)
    again = replay(path, db, raise_on_damage=False)
    assert first.damaged_count == again.damaged_count == 1 and again.runs_resumed == 2
    rows = sql(db, "SELECT name, run_uid, reason, document FROM rejected_documents")
    assert len(rows) == 1 and rows[0][:2] == ("damaged", None)
    kept: dict[str, Any] = json.loads(rows[0][3])
    assert (kept["file"], kept["line"], kept["offset"]) == (str(path), 4,
                                                            first.damaged[0].offset)


def test_ctrl_c_in_the_python_api_commits_what_was_read_and_raises_with_the_summary(
    tmp_path: Path,
) -> None:
    stream = Stream()
    del stream.descriptor["data_keys"]["img"]  # scalar events: many, quickly
    for event in (stream.first, stream.last):
        del event["data"]["img"], event["timestamps"]["img"]
    lines = pairs(stream)
    path = tmp_path / "run.jsonl"
    events = [(json.dumps(["event", {**stream.first, "uid": f"e{k}", "seq_num": k + 2,
                                     "data": {"x": float(k)}}]) + "\n").encode()
              for k in range(50_000)]
    path.write_bytes(b"".join([*lines[:3], *events, *lines[3:]]))
    sent = []

    def ctrl_c_once(summary: Any) -> None:
        if not sent:
            sent.append(summary.documents)
            os.kill(os.getpid(), signal.SIGINT)

    db = tmp_path / "bt.db"
    with pytest.raises(KeyboardInterrupt) as info:
        replay(path, db, progress=ctrl_c_once)
    summary = info.value.summary  # type: ignore[attr-defined]
    assert summary.interrupted and not summary.ok and sent
    assert summary.documents < len(lines) + len(events)
    assert summary.runs_open == [stream.start["uid"]]
    stored = sql(db, "SELECT count(*) FROM events")[0][0]
    assert stored == summary.events_added and 0 < stored < len(events) + 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back
    finished = replay(path, db)
    assert finished.ok and sql(db, "SELECT count(*) FROM events")[0][0] == len(events) + 2


def test_msgpack_record_over_the_limit_costs_itself_and_a_cut_record_ends_the_file(
    tmp_path: Path,
) -> None:
    stream = Stream()
    packed = [msgpack.packb([n, d], default=_plain) for n, d in stream.documents([])]
    big = msgpack.packb(["event", {"pad": "a" * 5_000}])
    path = tmp_path / "run.msgpack"
    path.write_bytes(b"".join([*packed[:3], big, *packed[3:], packed[0][:-5]]))
    located, damaged = split(list(iter_records(path, max_record_bytes=2_000)))
    assert len(located) == len(packed)
    assert [(d.line, d.offset, d.length, d.rest_lost) for d in damaged] == [
        (4, sum(map(len, packed[:3])), len(big), False),
        (len(packed) + 2, sum(map(len, packed)) + len(big), len(packed[0]) - 5, True)]
    assert "longer than the limit of 2000 bytes" in damaged[0].reason
    assert "incomplete msgpack record (truncated file?)" in damaged[1].reason
