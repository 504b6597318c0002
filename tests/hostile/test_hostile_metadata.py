"""Hostile start metadata: huge lists, deep nesting, huge strings, very many keys.

Each case stores an earlier run, then a run whose start document carries the hostile
metadata, through a real :class:`RunWriterCallback` in a child process bounded in time
(the schema-3 filing of start metadata was quadratic: ~25 s for 20,000 list elements,
hours for a million). Each asserts: the earlier run is unchanged, nothing is rejected,
the run and its events are stored, a ``where`` filter finds it by a value from the
hostile part, and the child's peak memory stays within a generous multiple of the
metadata's JSON size.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from resonance_callback import jsoncodec, open_beamtime
from tests.bounded import run_bounded
from tests.hostile._stream import Stream, feed_live, nested

#: Seconds a case may take (they take 1-20 s here; the schema-3 filing needed hours).
BOUND_S = 300.0
#: Peak memory of the child: the interpreter and its imports, plus this many times
#: the start document's JSON size (the document, its JSON text, SQLite's copies).
BASE_MB, PER_JSON_MB = 400.0, 25.0

N_LIST = 1_000_000
N_KEYS = 200_000
DEPTH = 90


def _deep_path() -> str:
    return ".".join([f"level{i}" for i in reversed(range(DEPTH))] + ["leaf"])


def _deep() -> dict[str, Any]:
    value: Any = {"leaf": [i + 0.25 for i in range(100_000)]}
    for i in range(DEPTH):
        value = {f"level{i}": value}
    return value


def _line(i: int) -> str:
    return f"{i:0100d}"


#: id -> (the hostile start metadata, a where filter that must find the run)
CASES: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[], dict[str, Any]]]] = {
    "a list of 1,000,000 numbers": (
        lambda: {"positions": [i + 0.5 for i in range(N_LIST)]},
        lambda: {"positions": N_LIST - 0.5}),
    "dicts nested 90 deep around a 100,000-element list": (
        _deep, lambda: {_deep_path(): 99_999.25}),
    "lists nested 90 deep (lists of lists, not filed) beside a marker": (
        lambda: {"nest": [nested(DEPTH - 2)] * 10_000, "marker": "deep lists"},
        lambda: {"marker": "deep lists"}),
    "one 20 MB string": (
        lambda: {"note": "x" * 20_000_000 + "end"},
        lambda: {"note": "x" * 20_000_000 + "end"}),
    "a dict of 200,000 keys": (
        lambda: {"many": {f"k{i}": i for i in range(N_KEYS)}},
        lambda: {f"many.k{N_KEYS - 1}": N_KEYS - 1}),
    "100,000 dicts in a list, each with its own list": (
        lambda: {"points": [{"x": i, "tags": [f"t{i}"]} for i in range(100_000)],
                 "marker": "points"},
        lambda: {"marker": "points"}),
    "a 40 MB start document of 400,000 strings": (
        lambda: {"lines": [_line(i) for i in range(400_000)]},
        lambda: {"lines": _line(399_999)}),
}


def store_hostile_run(db: str, case: str) -> dict[str, Any]:
    """Store the run of ``case``; return its uids and its metadata's JSON size in MB."""
    metadata = CASES[case][0]()
    size_mb = len(jsoncodec.dumps(metadata).encode()) / 1e6
    stream = Stream(**metadata)
    feed_live(Path(db), stream.documents([]))
    return {"uid": stream.start["uid"], "json_mb": size_mb,
            "events": [stream.first["uid"], stream.last["uid"]]}


def _snapshot(db: Path) -> tuple[list[Any], list[Any]]:
    with open_beamtime(db) as bt:
        return (bt.query("SELECT * FROM runs ORDER BY rowid"),
                bt.query("SELECT run_uid, key, value FROM run_metadata ORDER BY rowid"))


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_start_metadata_is_stored_and_found_in_bounded_time_and_memory(
        case: str, tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    earlier = Stream(operator="ana", tags=["calib"])
    feed_live(db, earlier.documents([]))
    before = _snapshot(db)

    out, peak_mb = run_bounded(store_hostile_run, str(db), case, seconds=BOUND_S)

    runs, filed = _snapshot(db)
    assert runs[:1] == before[0][:1] and filed[:len(before[1])] == before[1]
    with open_beamtime(db) as bt:
        assert bt.query("SELECT count(*) FROM rejected_documents") == [(0,)]
        assert [r.uid for r in bt.runs(where=CASES[case][1]())] == [out["uid"]]
        assert [r.uid for r in bt.runs(where={"operator": "ana"})] == [earlier.start["uid"]]
        run = bt[out["uid"]]
        assert run.exit_status == "success"
        assert [doc["uid"] for name, doc in run.documents() if name == "event"] == out["events"]
    assert peak_mb <= BASE_MB + PER_JSON_MB * out["json_mb"], (peak_mb, out["json_mb"])
