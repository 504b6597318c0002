"""Events whose key is stored, in chunks: the strict writer refuses each one, naming it.

The spec's :class:`RunWriter` refuses a stored uid (``StrictConflicts``); a batch of
events written again is settled a chunk at a time, later chunks read first
(``store/_stored_events.py``), and every row must still come back refused alone.
"""

from __future__ import annotations

from pathlib import Path

from resonance_callback import RunWriter
from resonance_callback.store import EventRow

from ..conftest import sql


def test_events_written_twice_by_the_spec_writer_are_each_refused_naming_their_uid(
    tmp_path: Path
) -> None:
    db = tmp_path / "bt.db"
    w = RunWriter(db, None, commit_every=8, commit_interval=3600)
    w.open()
    w.open_run("count", uid="run1", time=1.0)
    stream = w.open_stream("primary", {"x": {"dtype": "number", "shape": [], "source": "s"}},
                           uid="desc1", time=1.0)
    events = [EventRow(f"e{i}", stream, i + 1, float(i), {"x": float(i)}, {"x": 0.0})
              for i in range(30)]
    assert w.write_events(events) == []
    refused = w.write_events(events)  # four chunks, the last three read first
    w.close()
    assert [r.index for r in refused] == list(range(30))
    assert all(f"event e{r.index} is already stored in" in r.reason and not r.stored
               for r in refused)
    assert sql(db, "SELECT count(*) FROM events") == [(30,)]
