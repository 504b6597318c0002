"""RunWriter's rows for detector-file data: derived events, takeover, unresolved frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from resonance_callback import DocumentError, RunWriter, SampleMetadata, jsoncodec
from resonance_callback.store import UnresolvedRow

from ..conftest import sql


@pytest.fixture
def writer(db_path: Path):
    with RunWriter(db_path, SampleMetadata("film")) as w:
        yield w


def rows(db_path: Path) -> list[tuple]:
    return sql(db_path, "SELECT uid, seq_num, derived, data FROM events ORDER BY seq_num")


def test_event_at_creates_one_derived_row_per_seq_num_and_finds_it_again(writer, db_path):
    writer.open_run("fly")
    stream = writer.open_stream("primary", {})
    first = writer.event_at(stream, 1, time=5.0)
    assert writer.event_at(stream, 1) == first
    second = writer.event_at(stream, 2)
    writer.commit()
    assert rows(db_path) == [(first, 1, 1, "{}"), (second, 2, 1, "{}")]
    assert sql(db_path, "SELECT time FROM events WHERE uid = ?", (first,)) == [(5.0,)]


def test_event_at_finds_a_real_event_written_before(writer, db_path):
    writer.open_run("count")
    stream = writer.open_stream("primary", {})
    uid = writer.write_event({"x": 1}, seq_num=1, uid="real")
    assert writer.event_at(stream, 1) == uid == "real"
    writer.commit()
    assert rows(db_path) == [("real", 1, 0, '{"x":1}')]


def test_real_event_takes_over_the_derived_row_and_its_frames(writer, db_path):
    run = writer.open_run("count")
    stream = writer.open_stream("primary", {})
    derived = writer.event_at(stream, 1)
    writer.write_image(derived, "det", np.full((2, 3), 7, dtype=np.uint8))
    writer.merge_event_data(derived, {"det-sum": [42]})
    claimed = writer.claim_derived_event(stream, 1, uid="evt-1", time=9.0, data={"x": 1.5},
                                         timestamps={"x": 8.5}, filled={})
    assert claimed
    writer.close_run()
    assert sql(db_path, "SELECT uid, seq_num, time, derived, data, timestamps, filled "
                        "FROM events") == [
        ("evt-1", 1, 9.0, 0, '{"det-sum":[42],"x":1.5}', '{"x":8.5}', "{}")]
    [(event_uid, path, index)] = sql(db_path, "SELECT event_uid, zarr_path, frame_index "
                                              "FROM image_refs")
    assert event_uid == "evt-1"
    frames = zarr.open_group(db_path.with_suffix(".zarr"), mode="r")
    assert path == f"runs/{run}/primary/det"
    np.testing.assert_array_equal(frames[path][index], np.full((2, 3), 7, dtype=np.uint8))


def test_claim_without_a_derived_row_returns_false_and_changes_nothing(writer, db_path):
    writer.open_run("count")
    stream = writer.open_stream("primary", {})
    writer.write_event({}, seq_num=1, uid="real")
    assert not writer.claim_derived_event(stream, 1, uid="other", time=1.0, data={})
    assert not writer.claim_derived_event(stream, 2, uid="other", time=1.0, data={})
    writer.commit()
    assert [r[0] for r in rows(db_path)] == ["real"]


def test_merge_into_an_unknown_event_is_a_document_error(writer):
    writer.open_run("count")
    writer.open_stream("primary", {})
    with pytest.raises(DocumentError, match="no such event"):
        writer.merge_event_data("ghost", {"x": 1})


def test_unresolved_frames_are_recorded_with_reference_and_reason(writer, db_path):
    run = writer.open_run("count")
    stream = writer.open_stream("primary", {})
    writer.record_unresolved(UnresolvedRow("img", "res/0", "file gone", run_uid=run,
                                           stream_uid=stream, seq_num=1))
    writer.commit()
    assert sql(db_path, "SELECT run_uid, stream_uid, field_name, seq_num, reference, reason "
                        "FROM unresolved_frames") == [(run, stream, "img", 1, "res/0", "file gone")]


def test_frames_of_an_earlier_run_are_written_after_another_run_opened(writer, db_path):
    first = writer.open_run("outer")
    writer.open_stream("primary", {}, uid="s1")
    event = writer.write_event({}, uid="e1")
    writer.open_run("inner")  # no stream of its own yet
    writer.write_image(event, "img", np.ones((2, 2), dtype=np.int16))
    writer.close_run(uid=first)
    assert sql(db_path, "SELECT event_uid, zarr_path FROM image_refs") == [
        ("e1", f"runs/{first}/primary/img")]


def test_derived_row_values_decode_with_the_codec(writer, db_path):
    writer.open_run("fly")
    stream = writer.open_stream("primary", {})
    uid = writer.event_at(stream, 3)
    writer.merge_event_data(uid, {"sum": np.int64(2**62), "nan": float("nan")}, {"sum": 1.0})
    writer.commit()
    data, stamps = sql(db_path, "SELECT data, timestamps FROM events")[0]
    decoded = jsoncodec.loads(data)
    assert decoded["sum"] == 2**62 and np.isnan(decoded["nan"])
    assert jsoncodec.loads(stamps) == {"sum": 1.0}



def test_derived_rows_get_the_same_uid_in_every_database(tmp_path) -> None:
    rows = []
    for name in ("a.db", "b.db"):
        with RunWriter(tmp_path / name, None) as writer:
            writer.open_run("fly", uid="run-1")
            stream = writer.open_stream("primary", {}, uid="desc-1")
            writer.event_at(stream, 1)
            writer.close_run()
        rows.append(sql(tmp_path / name, "SELECT uid, derived FROM events"))
    assert rows[0] == rows[1] and rows[0][0][1] == 1
