"""RunWriter as the spec describes it: signatures, behaviour and every error case it lists."""

from __future__ import annotations

import inspect
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import zarr

from resonance_callback import (
    NotABeamtimeError,
    RunWriter,
    SampleMetadata,
    SchemaVersionError,
    StorageError,
    WriterStateError,
)
from resonance_callback._sqlite import latest_version

from ..conftest import sql

SPEC_SIGNATURES = {
    "__init__": ["self", "db_path", "sample"],
    "open": ["self"],
    "open_run": ["self", "plan_name", "metadata"],
    "open_stream": ["self", "name", "data_keys"],
    "write_event": ["self", "data", "timestamps"],
    "write_image": ["self", "event_uid", "field_name", "image"],
    "close_run": ["self", "exit_status"],
    "close": ["self"],
    "__enter__": ["self"],
    "__exit__": ["self", "exc_type", "exc", "tb"],
}


@pytest.mark.parametrize("method", sorted(SPEC_SIGNATURES))
def test_spec_parameters_come_first_in_spec_order(method: str) -> None:
    params = list(inspect.signature(getattr(RunWriter, method)).parameters.values())
    spec = SPEC_SIGNATURES[method]
    assert [p.name for p in params[: len(spec)]] == spec
    # Everything the spec does not name is keyword-only with a default.
    for extra in params[len(spec):]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY
        assert extra.default is not inspect.Parameter.empty


def test_spec_defaults_are_kept() -> None:
    assert inspect.signature(RunWriter.open_run).parameters["metadata"].default is None
    assert inspect.signature(RunWriter.write_event).parameters["timestamps"].default is None
    assert inspect.signature(RunWriter.close_run).parameters["exit_status"].default == "success"
    assert inspect.signature(RunWriter.close_run).parameters["exit_status"].kind is (
        inspect.Parameter.KEYWORD_ONLY)


@pytest.fixture
def writer(db_path: Path):
    w = RunWriter(db_path, SampleMetadata("film"))
    w.open()
    yield w
    if w._conn is not None:
        w.close()


def test_open_creates_database_and_zarr_store_beside_it(db_path: Path) -> None:
    w = RunWriter(db_path, SampleMetadata("film"))
    w.open()
    assert w._db_path == db_path.resolve()
    assert isinstance(w._zarr_store, zarr.Group)
    w.close()
    assert db_path.is_file()
    assert (db_path.parent / "beamtime.zarr").is_dir()
    assert sql(db_path, "PRAGMA user_version") == [(latest_version("beamtime"),)]


def test_open_twice_raises_runtime_error(writer: RunWriter) -> None:
    with pytest.raises(RuntimeError, match="already open"):
        writer.open()


def test_open_inserts_sample_and_sets_its_id(writer: RunWriter, db_path: Path) -> None:
    assert writer._sample.id is not None
    writer.close()
    assert sql(db_path, "SELECT id, name FROM samples") == [(writer._sample.id, "film")]


def test_open_loads_id_of_existing_sample_by_name(writer: RunWriter, db_path: Path) -> None:
    first_id = writer._sample.id
    writer.close()
    again = RunWriter(db_path, SampleMetadata("film"))
    again.open()
    assert again._sample.id == first_id
    again.close()
    assert sql(db_path, "SELECT count(*) FROM samples") == [(1,)]


def test_open_corrupt_file_raises_database_error(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(sqlite3.DatabaseError, match="corrupt.db"):
        RunWriter(bad, SampleMetadata("x")).open()


def test_open_other_applications_database_raises_not_a_beamtime(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE things (a)")
    conn.commit()
    conn.close()
    with pytest.raises(NotABeamtimeError, match="other.db"):
        RunWriter(other, SampleMetadata("x")).open()


def test_open_newer_schema_raises_schema_version_error(writer: RunWriter, db_path: Path) -> None:
    writer.close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {latest_version('beamtime') + 1}")
    conn.close()
    with pytest.raises(SchemaVersionError, match="newer"):
        RunWriter(db_path, SampleMetadata("x")).open()


def test_open_in_missing_directory_raises_storage_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="nowhere"):
        RunWriter(tmp_path / "nowhere" / "bt.db", SampleMetadata("x")).open()


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.open_run("count"),
        lambda w: w.open_stream("primary", {}),
        lambda w: w.write_event({"x": 1}),
        lambda w: w.write_image("e", "img", np.zeros((2, 2))),
        lambda w: w.close_run(),
        lambda w: w.close(),
    ],
    ids=["open_run", "open_stream", "write_event", "write_image", "close_run", "close"],
)
def test_methods_on_a_writer_that_is_not_open_raise_runtime_error(db_path: Path, call) -> None:
    w = RunWriter(db_path, SampleMetadata("x"))
    with pytest.raises(RuntimeError, match="not open"):
        call(w)


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.open_stream("primary", {}),
        lambda w: w.write_event({"x": 1}),
        lambda w: w.write_image("e", "img", np.zeros((2, 2))),
        lambda w: w.close_run(),
    ],
    ids=["open_stream", "write_event", "write_image", "close_run"],
)
def test_methods_needing_a_run_raise_runtime_error_without_one(writer: RunWriter, call) -> None:
    with pytest.raises(WriterStateError, match="no run is open"):
        call(writer)


@pytest.mark.parametrize(
    "call",
    [lambda w: w.write_event({"x": 1}), lambda w: w.write_image("e", "img", np.zeros((2, 2)))],
    ids=["write_event", "write_image"],
)
def test_methods_needing_a_stream_raise_runtime_error_without_one(writer: RunWriter, call) -> None:
    writer.open_run("count")
    with pytest.raises(RuntimeError, match="no stream is open"):
        call(writer)


def test_uids_are_new_hex_uuids_without_document_identity(writer: RunWriter) -> None:
    run = writer.open_run("count")
    stream = writer.open_stream("primary", {"det": {"dtype": "number", "shape": []}})
    event = writer.write_event({"det": 1.0})
    for uid in (run, stream, event):
        assert len(uid) == 32 and int(uid, 16) >= 0


def test_write_event_counts_seq_num_within_the_stream(writer: RunWriter, db_path: Path) -> None:
    writer.open_run("count")
    writer.open_stream("primary", {})
    for i in range(3):
        writer.write_event({"det": i}, {"det": 100.0 + i})
    assert writer._seq_num == 3
    writer.close_run()
    rows = sql(db_path, "SELECT seq_num, data, timestamps FROM events ORDER BY seq_num")
    assert rows == [(1, '{"det":0}', '{"det":100.0}'), (2, '{"det":1}', '{"det":101.0}'),
                    (3, '{"det":2}', '{"det":102.0}')]


def test_write_image_appends_frames_along_axis_0_with_one_ref_each(
    writer: RunWriter, db_path: Path
) -> None:
    run = writer.open_run("count")
    writer.open_stream("primary", {})
    frames = [np.full((4, 5), i, dtype=np.uint16) for i in range(3)]
    uids = []
    for frame in frames:
        uids.append(writer.write_event({}))
        writer.write_image(uids[-1], "img", frame)
    writer.close_run()
    refs = sql(db_path, "SELECT event_uid, zarr_path, frame_index, compression_codec "
                        "FROM image_refs ORDER BY frame_index")
    assert [r[0] for r in refs] == uids
    assert {r[1] for r in refs} == {f"runs/{run}/primary/img"}
    assert [r[2] for r in refs] == [0, 1, 2]
    array = zarr.open_group(db_path.with_suffix(".zarr"), mode="r")[f"runs/{run}/primary/img"]
    assert array.shape == (3, 4, 5) and array.dtype == np.uint16
    assert array.chunks == (1, 4, 5)
    np.testing.assert_array_equal(array[:], np.stack(frames))


def test_compression_codec_records_the_codec_the_array_really_uses(db_path: Path) -> None:
    for codec in ("zstd", "blosc-lz4"):
        path = db_path.with_name(f"{codec}.db")
        with RunWriter(path, SampleMetadata("x"), codec=codec) as w:
            run = w.open_run("count")
            w.open_stream("primary", {})
            w.write_image(w.write_event({}), "img", np.zeros((2, 2), dtype=np.uint8))
        array = zarr.open_group(path.with_suffix(".zarr"), mode="r")[f"runs/{run}/primary/img"]
        recorded = sql(path, "SELECT compression_codec FROM image_refs")[0][0]
        assert recorded == codec
        assert type(array.compressors[0]).__name__.lower().startswith(codec.split("-")[0])


def test_same_field_in_two_streams_gets_two_arrays(writer: RunWriter, db_path: Path) -> None:
    run = writer.open_run("count")
    primary = writer.open_stream("primary", {})
    baseline = writer.open_stream("baseline", {})
    writer.write_image(writer.write_event({}, stream_uid=primary), "img", np.ones((2, 2)))
    writer.write_image(writer.write_event({}, stream_uid=baseline), "img", np.zeros((3, 3)))
    writer.close_run()
    paths = sorted(r[0] for r in sql(db_path, "SELECT zarr_path FROM image_refs"))
    assert paths == [f"runs/{run}/baseline/img", f"runs/{run}/primary/img"]


def test_close_run_sets_exit_status_and_stop_time(writer: RunWriter, db_path: Path) -> None:
    writer.open_run("count", time=10.0)
    writer.close_run(exit_status="aborted", time=12.5, reason="user hit ctrl-c")
    assert sql(db_path, "SELECT time_start, time_stop, exit_status, reason FROM runs") == [
        (10.0, 12.5, "aborted", "user hit ctrl-c")]


def test_close_run_refuses_an_unknown_exit_status(writer: RunWriter) -> None:
    writer.open_run("count")
    with pytest.raises(ValueError, match="exit_status"):
        writer.close_run(exit_status="exploded")


def test_context_manager_closes_open_run_as_failed_on_error(db_path: Path) -> None:
    with pytest.raises(KeyError), RunWriter(db_path, SampleMetadata("x")) as w:
        w.open_run("count")
        raise KeyError("boom")
    assert sql(db_path, "SELECT exit_status FROM runs") == [("failed",)]
    assert w._conn is None


def test_context_manager_closes_open_run_as_success(db_path: Path) -> None:
    with RunWriter(db_path, SampleMetadata("x")) as w:
        w.open_run("count")
    assert sql(db_path, "SELECT exit_status FROM runs") == [("success",)]


def test_open_run_with_a_sample_upserts_it_by_name(writer: RunWriter, db_path: Path) -> None:
    writer.open_run("count", sample=SampleMetadata("other", formula="Si"))
    writer.open_run("count", sample=SampleMetadata("other"))
    writer.close()
    assert sql(db_path, "SELECT name, metadata FROM samples ORDER BY id") == [
        ("film", "{}"), ("other", '{"formula":"Si"}')]
    assert sql(db_path, "SELECT count(DISTINCT sample_id) FROM runs") == [(1,)]


def test_events_are_committed_every_commit_every_events(db_path: Path) -> None:
    with RunWriter(db_path, SampleMetadata("x"), commit_every=10, commit_interval=3600) as w:
        w.open_run("count")
        w.open_stream("primary", {})
        for i in range(25):
            w.write_event({"i": i})
        # Another connection sees the committed batches, not the open one.
        assert sql(db_path, "SELECT count(*) FROM events") == [(20,)]


def test_pending_events_are_committed_once_commit_interval_passes(db_path: Path) -> None:
    with RunWriter(db_path, SampleMetadata("x"), commit_every=10_000,
                   commit_interval=0.0) as w:
        w.open_run("count")
        w.open_stream("primary", {})
        w.write_event({"i": 1})
        assert sql(db_path, "SELECT count(*) FROM events") == [(1,)]
