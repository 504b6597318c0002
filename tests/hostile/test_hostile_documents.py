"""One hostile document costs only itself: live through the callback, and through replay.

Each case (``_cases.CASES``) is one run with one bad document (or value) between
two good events. Both ways it is fed, nothing raises; the earlier event and its
frame are intact, the bad document is stored or kept in ``rejected_documents``
with a reason naming what was wrong, the later event is stored and the stop is
applied (and not also rejected).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from resonance_callback.errors import ReplayError
from resonance_callback.replay import replay
from tests.hostile._cases import CASES
from tests.hostile._stream import Case, Stream, feed_live, feed_replay, outcome, save_jsonl

LIVE = [pytest.param(c, id=f"{c.kind}-{c.id}") for c in CASES]
REPLAYED = [pytest.param(c, id=f"{c.kind}-{c.id}") for c in CASES if c.replay]


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="resonance_callback")


def _assert_costs_only_itself(case: Case, stream: Stream, db: Path) -> None:
    out = outcome(db, stream.start["uid"], stream.stop["uid"])
    reasons = [reason for name, reason, _ in out.rejected]
    if case.run_lost:  # its start cannot be stored: every document kept, each saying why
        assert out.exit_status is None and out.start is None
        assert [name for name, _, _ in out.rejected] == [
            "start", "descriptor", "event", "event", "stop"]
        assert all("start" in reason for reason in reasons)
        return
    assert stream.first["uid"] in out.event_uids, "the earlier event is lost"
    assert stream.last["uid"] in out.event_uids, "the later event is lost"
    assert out.frames >= 2, "a good event's frame is lost"
    assert out.exit_status == "success" and not out.stop_rejected, reasons
    if case.rejected is None:
        assert reasons == []
    else:
        assert len(reasons) >= 1 and any(case.rejected in r for r in reasons), reasons
    if case.check is not None:
        case.check(out, stream)


def _assert_kept_whole(bad: list[tuple[str, object]], db: Path, stream: Stream) -> None:
    """A single rejected document is kept whole: the same keys, the same uid."""
    if len(bad) != 1 or not isinstance(bad[0][1], dict):
        return
    sent = bad[0][1]
    kept = [doc for _, _, doc in outcome(db, stream.start["uid"]).rejected
            if isinstance(doc, dict) and doc.keys() == sent.keys()]
    assert kept, "the rejected document is not kept whole"
    if isinstance(sent.get("uid"), str) and sent["uid"].isascii():
        assert any(doc.get("uid") == sent["uid"] for doc in kept)


@pytest.mark.parametrize("case", LIVE)
def test_hostile_document_live_costs_only_itself(case: Case, tmp_path: Path) -> None:
    stream = Stream(**case.start)
    bad = case.bad(stream)
    feed_live(tmp_path / "bt.db", stream.documents(bad, case.earlier))
    _assert_costs_only_itself(case, stream, tmp_path / "bt.db")
    if case.rejected is not None and not case.run_lost:
        _assert_kept_whole(bad, tmp_path / "bt.db", stream)


@pytest.mark.parametrize("case", REPLAYED)
def test_hostile_document_replayed_costs_only_itself(case: Case, tmp_path: Path) -> None:
    stream = Stream(**case.start)
    feed_replay(tmp_path / "bt.db", stream.documents(case.bad(stream), case.earlier), tmp_path)
    _assert_costs_only_itself(case, stream, tmp_path / "bt.db")


def test_replay_of_a_record_that_is_no_name_doc_pair_stores_what_came_before_and_after(
        tmp_path: Path) -> None:
    stream = Stream()
    path = save_jsonl(tmp_path / "s.jsonl", stream.documents([]))
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join([*lines[:3], '["event", [1, 2]]\n', *lines[3:]]))
    with pytest.raises(ReplayError, match=r"line 4: expected a string name and a dict"):
        replay(path, tmp_path / "bt.db")
    out = outcome(tmp_path / "bt.db", stream.start["uid"])
    assert out.event_uids == [stream.first["uid"], stream.last["uid"]] and out.frames == 2


@pytest.mark.parametrize("how", ["live", "replay"])
def test_descriptor_uid_of_a_run_stored_in_an_earlier_session_costs_only_itself(
        how: str, tmp_path: Path) -> None:
    stream = Stream()
    db = tmp_path / "bt.db"
    feed_live(db, stream.earlier_run())  # an earlier session
    reused = {**stream.descriptor, "uid": stream.earlier.descriptor["uid"], "name": "baseline"}
    docs = stream.documents([("descriptor", reused)])
    feed_live(db, docs) if how == "live" else feed_replay(db, docs, tmp_path)
    out = outcome(db, stream.start["uid"], stream.stop["uid"])
    assert [stream.first["uid"], stream.last["uid"]] == out.event_uids
    assert out.exit_status == "success" and not out.stop_rejected
    assert [name for name, _, _ in out.rejected] == ["descriptor"]
