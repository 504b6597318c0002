"""msgpack and jsonl exports: suitcase-msgpack's layout, replayed with the stored sample."""

from __future__ import annotations

from pathlib import Path

import msgpack
import msgpack_numpy
import numpy as np
import pytest
import suitcase.msgpack
from event_model import unpack_datum_page, unpack_event_page

from resonance_callback import SampleMetadata, jsoncodec, open_beamtime
from resonance_callback.read import export_jsonl, export_msgpack, export_runs, pick_runs
from resonance_callback.replay import replay

from ..docs_compare import TABLES, assert_same_documents, assert_same_tables, table_rows
from ..export_beamtime import GOLD, ExportBeamtime, record

CARRIED = "resonance_callback_sample"


@pytest.fixture(scope="module")
def beamtime(tmp_path_factory: pytest.TempPathFactory) -> ExportBeamtime:
    return record(tmp_path_factory.mktemp("msgpack"))


def unpacked(path: Path) -> list[tuple[str, dict]]:
    """Read a msgpack stream as suitcase-msgpack's readers (databroker's catalog) do."""
    with path.open("rb") as file:
        return [(name, doc) for name, doc in msgpack.Unpacker(
            file, object_hook=msgpack_numpy.decode, raw=False, strict_map_key=False)]


def as_events(docs: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    out = []
    for name, doc in docs:
        if name == "event_page":
            out.extend(("event", event) for event in unpack_event_page(doc))
        elif name == "datum_page":
            out.extend(("datum", datum) for datum in unpack_datum_page(doc))
        else:
            out.append((name, doc))
    return out


@pytest.mark.parametrize("which", ["grid", "frames", "scan"])
def test_msgpack_export_is_byte_for_byte_what_suitcase_msgpack_writes(
        beamtime: ExportBeamtime, tmp_path: Path, which: str) -> None:
    uid = getattr(beamtime, which)
    with open_beamtime(beamtime.db) as bt:
        run = bt[uid]
        export_msgpack(run, tmp_path / "ours.msgpack")
        docs = [(name, doc) for name, doc in unpacked(tmp_path / "ours.msgpack")]
        start = docs[0][1]  # the start as exported (with the carried sample, if any)
        documents = [("start", start), *list(run.documents())[1:]]
        artifacts = suitcase.msgpack.export(documents, tmp_path / "suitcase")
    [theirs] = artifacts["all"]
    assert (tmp_path / "ours.msgpack").read_bytes() == Path(theirs).read_bytes()


def test_msgpack_export_reads_back_as_the_stored_documents_with_frames_as_arrays(
        beamtime: ExportBeamtime, tmp_path: Path) -> None:
    with open_beamtime(beamtime.db) as bt:
        run = bt[beamtime.frames]
        export_msgpack(run, tmp_path / "run.msgpack")
        expected = list(run.documents())
    docs = unpacked(tmp_path / "run.msgpack")
    assert "event" not in {name for name, _ in docs}  # events as event pages, as suitcase
    events = [doc for name, doc in as_events(docs) if name == "event"]
    assert all(isinstance(event["data"]["img"], np.ndarray) for event in events)
    assert_same_documents(expected, as_events(docs))


def same_sample(one: SampleMetadata | None, other: SampleMetadata | None) -> bool:
    assert one is not None and other is not None
    return (one.name, one.metadata()) == (other.name, other.metadata())


@pytest.mark.parametrize("fmt", ["msgpack", "jsonl"])
def test_replaying_an_unfilled_export_into_a_new_beamtime_gives_the_same_rows_and_samples(
        beamtime: ExportBeamtime, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"runs.{fmt}"
    with open_beamtime(beamtime.db) as bt:
        export_runs(pick_runs(bt, ["1..4"]), fmt, out, per_run=False, fill=False)
    # Replayed as it was recorded (the callback given GOLD), so the samples table matches too.
    summary = replay(out, tmp_path / "copy.db", sample=GOLD)
    assert summary.runs_added == 4 and summary.rejected == 0
    # msgpack holds a datum as a datum page (as suitcase-msgpack): unpacked, its keys
    # come in another order, so its stored JSON is compared as a value.
    assert_same_tables(beamtime.db, tmp_path / "copy.db",
                       [table for table in TABLES if table != "external_documents"])
    for old, new in zip(table_rows(beamtime.db, "external_documents"),
                        table_rows(tmp_path / "copy.db", "external_documents"), strict=True):
        assert old[:4] == new[:4] and jsoncodec.loads(old[4]) == jsoncodec.loads(new[4])
    with open_beamtime(beamtime.db) as bt, open_beamtime(tmp_path / "copy.db") as copy:
        for run in bt.runs():
            assert same_sample(copy[run.uid].sample, run.sample)
            assert copy[run.uid].start == run.start and CARRIED not in copy[run.uid].start


@pytest.mark.parametrize("fmt", ["msgpack", "jsonl"])
def test_replaying_a_filled_export_gives_the_same_values_frames_and_samples(
        beamtime: ExportBeamtime, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"runs.{fmt}"
    with open_beamtime(beamtime.db) as bt:
        export_runs(pick_runs(bt, ["1..4"]), fmt, out, per_run=False)
    summary = replay(out, tmp_path / "copy.db")
    assert summary.runs_added == 4 and summary.rejected == 0
    with open_beamtime(beamtime.db) as bt, open_beamtime(tmp_path / "copy.db") as copy:
        for run in bt.runs():
            again = copy[run.uid]
            assert same_sample(again.sample, run.sample) and again.start == run.start
            for stream in run.streams:
                frames = run.image_fields(stream)
                table = run.table(stream).drop(columns=frames, errors="ignore")
                assert again.table(stream).drop(columns=frames, errors="ignore").equals(table)
                for field in frames:
                    np.testing.assert_array_equal(np.asarray(again.images(field, stream)),
                                                  np.asarray(run.images(field, stream)))


def test_replaying_an_export_restores_a_sample_the_start_document_does_not_name(
        beamtime: ExportBeamtime, tmp_path: Path) -> None:
    with open_beamtime(beamtime.db) as bt:
        run = bt[beamtime.grid]
        assert "sample" not in run.start
        export_msgpack(run, tmp_path / "grid.msgpack")
    [(name, start)] = unpacked(tmp_path / "grid.msgpack")[:1]
    assert start[CARRIED] == {"name": "gold foil", "formula": "Au", "thickness_um": 25}
    replay(tmp_path / "grid.msgpack", tmp_path / "copy.db", sample="somewhere else")
    with open_beamtime(tmp_path / "copy.db") as copy:
        sample = copy[beamtime.grid].sample
    assert same_sample(sample, GOLD)


def test_a_start_document_naming_its_own_sample_is_exported_unchanged(
        beamtime: ExportBeamtime, tmp_path: Path) -> None:
    with open_beamtime(beamtime.db) as bt:
        run = bt[beamtime.scan]
        export_jsonl(run, tmp_path / "scan.jsonl")
        start = run.start
    first = jsoncodec.loads((tmp_path / "scan.jsonl").read_text().splitlines()[0])
    assert first == ["start", start]


@pytest.mark.parametrize("fmt", ["msgpack", "jsonl"])
def test_replaying_an_export_into_the_same_beamtime_changes_nothing(
        beamtime: ExportBeamtime, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"grid.{fmt}"
    with open_beamtime(beamtime.db) as bt:
        run = bt[beamtime.grid]
        (export_msgpack if fmt == "msgpack" else export_jsonl)(run, out)
    summary = replay(out, beamtime.db)
    assert (summary.runs_added, summary.events_added, summary.rejected) == (0, 0, 0)
    assert summary.runs_resumed == 1 and summary.already_stored > 0
    with open_beamtime(beamtime.db) as bt:
        assert CARRIED not in bt[beamtime.grid].start
        assert bt[beamtime.grid].rejected() == []
