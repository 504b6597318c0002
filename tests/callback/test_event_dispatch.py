"""An event goes straight to ``event`` (DocumentRouter's dispatch skipped): the same call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from resonance_callback import RunWriterCallback

from ..conftest import sql

START = {"uid": "r1", "time": 1.0, "plan_name": "count"}
DESCRIPTOR = {"uid": "d1", "run_start": "r1", "time": 1.0, "name": "primary",
              "data_keys": {"x": {"dtype": "number", "shape": [], "source": "s"}}}


def _event(seq: int) -> dict[str, Any]:
    return {"uid": f"e{seq}", "descriptor": "d1", "seq_num": seq, "time": 1.0 + seq,
            "data": {"x": float(seq)}, "timestamps": {"x": 1.0 + seq}}


def test_an_event_is_stored_and_handed_back_as_it_came(tmp_path: Path) -> None:
    with RunWriterCallback(tmp_path / "bt.db", threaded=False) as cb:
        cb("start", START)
        cb("descriptor", DESCRIPTOR)
        event = _event(1)
        assert cb("event", event) == ("event", event)
        assert cb("event", _event(2), True)[0] == "event"  # validated: through the router
        cb("stop", {"uid": "s1", "run_start": "r1", "time": 9.0, "exit_status": "success"})
    assert sql(tmp_path / "bt.db", "SELECT uid FROM events ORDER BY seq_num") == [
        ("e1",), ("e2",)]


def test_a_subclass_event_method_is_still_called(tmp_path: Path) -> None:
    seen: list[str] = []

    class Counting(RunWriterCallback):
        def event(self, doc: Any) -> Any:
            seen.append(doc["uid"])
            return super().event(doc)

    with Counting(tmp_path / "bt.db", threaded=False) as cb:
        cb("start", START)
        cb("descriptor", DESCRIPTOR)
        cb("event", _event(1))
        cb("stop", {"uid": "s1", "run_start": "r1", "time": 9.0, "exit_status": "success"})
    assert seen == ["e1"]
    assert sql(tmp_path / "bt.db", "SELECT uid FROM events") == [("e1",)]
