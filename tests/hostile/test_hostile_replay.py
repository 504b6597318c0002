"""Hostile saved streams: a damaged record costs only itself, and replay goes on after it.

Each case stores an earlier run (an earlier replay), then replays a file in
which one record of a run is damaged - invalid JSON, a cut line, binary
garbage, a value that is no ``(name, doc)`` pair, text that is not UTF-8, a
line of 150 MB, a broken json-seq record, garbage inside a msgpack stream,
a 200 MB line with no newline. Every case asserts: nothing stored earlier
changes; the damage is kept in ``rejected_documents`` as ``damaged``, with
file, line (or record), byte offset and reason, and listed in the summary;
the records after it are stored (the later complete run too); memory and
time stay bounded (generously).
"""

from __future__ import annotations

import gzip
import json
import logging
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest

from resonance_callback import jsoncodec, open_beamtime
from resonance_callback.replay import ReplaySummary, replay
from resonance_callback.replay._summary import DAMAGED_KEPT
from tests.beamtime_dump import dump_beamtime
from tests.hostile._stream import Doc, Stream, _plain, outcome, save_jsonl

MB = 1_000_000
GENEROUS_SECONDS = 120


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="resonance_callback")


def jsonl(docs: list[Doc]) -> list[bytes]:
    return [(json.dumps([name, doc], default=_plain) + "\n").encode() for name, doc in docs]


@dataclass
class Line:
    """A damaged line put between the first and the last event of a run."""

    id: str
    data: Callable[[Stream], bytes]
    reason: str  # words the recorded reason holds
    gzipped: bool = False  # the file is gzipped (the line is too large to write plainly)
    max_bytes: int = 40 * MB  # bound on the replay's traced memory peak


LINES = [
    Line("invalid-json", lambda s: b'["event", {"uid": "x",, "seq_num": 2}]\n', "invalid JSON"),
    Line("cut-line", lambda s: jsonl([("event", s.event(2))])[0][:40] + b"\n",
         "unterminated JSON"),
    Line("binary-garbage", lambda s: bytes(b for b in range(256) if b != 10) * 64 + b"\n",
         "not UTF-8"),
    Line("no-name-doc-pair", lambda s: b'{"a": 1, "b": [1, 2]}\n', "expected a [name, doc]"),
    Line("doc-not-a-dict", lambda s: b'["event", [1, 2]]\n', "a string name and a dict"),
    Line("not-utf8", lambda s: b'["event", {"uid": "\xff\xfe\xfd"}]\n', "not UTF-8"),
    Line("nul-bytes", lambda s: b"\x00" * 4096 + b"\n", "JSON"),
    Line("line-of-150-MB", lambda s: b'["event", {"pad": "' + b"a" * (150 * MB) + b'"}]\n',
         "longer than the limit of 67108864 bytes", gzipped=True, max_bytes=100 * MB),
]


def store_earlier_run(db: Path, tmp: Path) -> tuple[Stream, dict[str, Any]]:
    earlier = Stream()
    replay(save_jsonl(tmp / "earlier.jsonl", earlier.documents([])), db)
    return earlier, dump_beamtime(db)


def assert_kept(before: dict[str, Any], db: Path) -> None:
    """Every row and array of the beamtime as it was is still there, unchanged."""
    after = dump_beamtime(db)
    for table, rows in before.items():
        if table == "arrays":
            assert {k: after[table].get(k) for k in rows} == rows
        else:
            assert set(rows) <= set(after[table]), f"rows of {table} changed"


def measured(call: Callable[[], ReplaySummary]) -> tuple[ReplaySummary, int, float]:
    """The replay's summary, traced memory peak (bytes) and seconds."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        summary = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return summary, peak, time.monotonic() - started


def damaged_rows(db: Path) -> list[tuple[str, dict[str, Any]]]:
    with open_beamtime(db) as bt:
        return [(reason, jsoncodec.loads(doc)) for reason, doc in bt.query(
            "SELECT reason, document FROM rejected_documents WHERE name = 'damaged'")]


def assert_run_complete(db: Path, stream: Stream, events: int = 2) -> None:
    out = outcome(db, stream.start["uid"], stream.stop["uid"])
    assert out.exit_status == "success" and len(out.event_uids) == events


@pytest.mark.parametrize("line", [pytest.param(c, id=c.id) for c in LINES])
def test_damaged_line_is_recorded_and_replay_goes_on_with_the_next_line(
    line: Line, tmp_path: Path
) -> None:
    db = tmp_path / "bt.db"
    earlier, before = store_earlier_run(db, tmp_path)
    damaged, later = Stream(), Stream()
    lines = jsonl(damaged.documents([]))
    bad = line.data(damaged)
    parts = [*lines[:3], bad, *lines[3:], *jsonl(later.documents([]))]
    path = tmp_path / ("saved.jsonl.gz" if line.gzipped else "saved.jsonl")
    with gzip.open(path, "wb", 1) if line.gzipped else path.open("wb") as f:
        f.writelines(parts)
    del parts

    summary, peak, seconds = measured(lambda: replay(path, db, raise_on_damage=False))

    assert_kept(before, db)
    assert_run_complete(db, earlier)
    assert_run_complete(db, damaged)  # the events before and after the damaged line
    assert_run_complete(db, later)  # the later complete run
    assert summary.damaged_count == 1 and not summary.ok and summary.runs_added == 2
    where = summary.damaged[0]
    offset = sum(map(len, lines[:3]))
    assert (where.path, where.line, where.offset, where.length) == (str(path), 4, offset,
                                                                    len(bad))
    assert line.reason in where.reason
    [(reason, row)] = damaged_rows(db)
    assert reason.startswith(f"{path} line 4: ") and line.reason in reason
    assert (row["file"], row["line"], row["offset"], row["length"]) == (str(path), 4, offset,
                                                                        len(bad))
    assert len(row["excerpt"]) <= 4 * 80  # bounded, whatever the line held
    assert peak < line.max_bytes and seconds < GENEROUS_SECONDS


def test_damaged_json_seq_record_is_skipped_up_to_the_next_separator(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    earlier, before = store_earlier_run(db, tmp_path)
    damaged, later = Stream(), Stream()
    records = [b"\x1e" + line for line in jsonl(damaged.documents([]) + later.documents([]))]
    broken = b'\x1e{"name": "event",\n "doc": {"uid": \n'  # a record cut across two lines
    path = tmp_path / "saved.json-seq"
    path.write_bytes(b"".join([*records[:3], broken, *records[3:]]))

    summary, peak, seconds = measured(lambda: replay(path, db, raise_on_damage=False))

    assert_kept(before, db)
    for stream in (earlier, damaged, later):
        assert_run_complete(db, stream)
    assert summary.damaged_count == 1 and summary.damaged[0].line == 4
    assert summary.damaged[0].offset == sum(map(len, records[:3])) + 1  # past the separator
    [(reason, row)] = damaged_rows(db)
    assert f"{path} line 4: " in reason and row["length"] == len(broken) - 1
    assert peak < 40 * MB and seconds < GENEROUS_SECONDS


@pytest.mark.parametrize("garbage", [b"\xc1" * 64, b"\xdb\xff\xff\xff\xf0" + b"x" * 64],
                         ids=["bytes-that-never-decode", "string-header-longer-than-the-file"])
def test_garbage_in_a_msgpack_stream_costs_the_bytes_up_to_the_next_record(
    garbage: bytes, tmp_path: Path
) -> None:
    db = tmp_path / "bt.db"
    earlier, before = store_earlier_run(db, tmp_path)
    damaged, later = Stream(), Stream()
    (tmp_path / "saved").mkdir()
    packed = [msgpack.packb([name, doc], default=_plain) for name, doc in damaged.documents([])]
    first = tmp_path / "saved" / "01.msgpack"
    first.write_bytes(b"".join([*packed[:3], garbage, *packed[3:]]))
    second = tmp_path / "saved" / "02.msgpack"
    second.write_bytes(b"".join(msgpack.packb([name, doc], default=_plain)
                                for name, doc in later.documents([])))

    summary, peak, seconds = measured(
        lambda: replay(tmp_path / "saved", db, raise_on_damage=False))

    assert_kept(before, db)
    for stream in (earlier, damaged, later):
        assert_run_complete(db, stream)
    assert summary.damaged_count == 1 and summary.runs_added == 2
    where = summary.damaged[0]
    offset = sum(map(len, packed[:3]))
    assert (where.path, where.unit, where.line, where.offset, where.length, where.rest_lost) == (
        str(first), "record", 4, offset, len(garbage), False)
    [(reason, row)] = damaged_rows(db)
    assert reason.startswith(f"{first} record 4 (byte {offset}): ")
    assert row["record"] == 4 and row["length"] == len(garbage)
    assert peak < 40 * MB and seconds < GENEROUS_SECONDS


def test_a_200_mb_line_without_newline_is_recorded_by_its_size_and_never_held(
    tmp_path: Path
) -> None:
    db = tmp_path / "bt.db"
    earlier, before = store_earlier_run(db, tmp_path)
    complete = Stream()
    lines = jsonl(complete.documents([]))
    path = tmp_path / "saved.jsonl.gz"  # 200 MB of one line, 200 kB on disk
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.writelines(lines)
        f.write(b'["event", {"pad": "')
        for _ in range(200):
            f.write(b"a" * MB)

    summary, peak, seconds = measured(
        lambda: replay(path, db, raise_on_damage=False, max_record_bytes=MB))

    assert_kept(before, db)
    assert_run_complete(db, complete)
    size = len(b'["event", {"pad": "') + 200 * MB
    assert summary.damaged_count == 1
    where = summary.damaged[0]
    assert (where.line, where.offset, where.length) == (
        len(lines) + 1, sum(map(len, lines)), size)
    [(reason, row)] = damaged_rows(db)
    assert f"line {len(lines) + 1}: line of {size} bytes is longer than the limit" in reason
    assert row["excerpt"].startswith('["event", {"pad": "aaa') and len(row["excerpt"]) <= 80
    assert peak < 20 * MB and seconds < GENEROUS_SECONDS


def test_a_flood_of_damaged_lines_is_counted_and_kept_in_the_beamtime_only_up_to_a_bound(
    tmp_path: Path
) -> None:
    db = tmp_path / "bt.db"
    earlier, before = store_earlier_run(db, tmp_path)
    later = Stream()
    path = tmp_path / "saved.jsonl"
    lines = jsonl(later.documents([]))
    path.write_bytes(b"".join([lines[0], b"x!\n" * 5_000, *lines[1:]]))

    summary, peak, seconds = measured(lambda: replay(path, db, raise_on_damage=False))

    assert_kept(before, db)
    assert_run_complete(db, later)
    assert summary.damaged_count == 5_000 and len(summary.damaged) == DAMAGED_KEPT
    assert summary.rejected == 0  # the damage is not counted as rejected documents
    rows = damaged_rows(db)
    assert len(rows) == DAMAGED_KEPT + 1  # the first ones, then how many more
    assert rows[-1][0].startswith(f"{5_000 - DAMAGED_KEPT} more damaged records")
    assert rows[-1][1] == {"files": [str(path)], "count": 5_000 - DAMAGED_KEPT}
    assert len(summary.lines()) < 40  # the terminal shows the first few
    assert peak < 40 * MB and seconds < GENEROUS_SECONDS
