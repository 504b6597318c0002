"""Reading back saved document streams written by the real Bluesky writers.

The documents come from a real RunEngine over ophyd.sim devices; the files are
written by suitcase-jsonl, suitcase-msgpack and bluesky's JSON writers, and by
small writers below for the shapes no installed package writes (RFC 7464
json-seq, the databroker / Tiled exports, JSON arrays of pairs, gzip).
"""

from __future__ import annotations

import bz2
import copy
import gzip
import io
import json
import math
import re
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import event_model
import msgpack
import msgpack_numpy
import numpy as np
import pytest
import suitcase.jsonl
import suitcase.msgpack
from bluesky import RunEngine
from bluesky.callbacks.json_writer import JSONLinesWriter, JSONWriter
from ophyd.sim import det, direct_img, hw, motor

from resonance_callback.errors import ReplayError
from resonance_callback.replay.formats import (
    detect_format,
    iter_documents,
    iter_located,
    stream_files,
)

Docs = list[tuple[str, dict[str, Any]]]

NONFINITE_MD = {
    "nan": math.nan,
    "inf": math.inf,
    "ninf": -math.inf,
    "mixed": [1.5, math.nan, -math.inf],
    "int64_max": 2**63 - 1,
    "text": "Å ✓",
}


# -- documents from a real RunEngine --------------------------------------------


def record(run_engine: RunEngine, plan: Any, **md: Any) -> Docs:
    docs: Docs = []
    token = run_engine.subscribe(lambda name, doc: docs.append((name, copy.deepcopy(doc))))
    try:
        run_engine(plan, **md)
    finally:
        run_engine.unsubscribe(token)
    return docs


def two_interleaved_runs() -> Any:
    def in_run(key: str, plan: Any) -> Any:
        return (yield from bpp.set_run_key_wrapper(plan, key))

    yield from in_run("a", bps.open_run(md={"which": "a"}))
    yield from in_run("b", bps.open_run(md={"which": "b"}))
    for _ in range(2):
        yield from in_run("a", bps.trigger_and_read([det]))
        yield from in_run("b", bps.trigger_and_read([det, motor]))
    yield from in_run("a", bps.close_run())
    yield from in_run("b", bps.close_run())


def as_pages(docs: Docs) -> Docs:
    """Events as event pages and datums as datum pages, as suitcase-msgpack stores them."""
    paged: Docs = []
    for name, doc in docs:
        if name == "event":
            paged.append(("event_page", event_model.pack_event_page(doc)))
        elif name == "datum":
            paged.append(("datum_page", event_model.pack_datum_page(doc)))
        else:
            paged.append((name, doc))
    return paged


@pytest.fixture(scope="session")
def run_engine() -> RunEngine:
    return RunEngine({})


@pytest.fixture(scope="session")
def corpus(run_engine: RunEngine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Docs]:
    image_files = hw(save_path=str(tmp_path_factory.mktemp("npy"))).img
    runs = {
        "scan": record(run_engine, bp.scan([det], motor, -1, 1, 5), **NONFINITE_MD),
        "images": record(run_engine, bp.count([direct_img, det], num=3)),
        "assets": record(run_engine, bp.count([image_files, det], num=2)),
        "hugeint": record(run_engine, bp.count([det]), huge=2**70, negative=-(2**70)),
        "interleaved": record(run_engine, two_interleaved_runs()),
    }
    count = record(run_engine, bp.count([det, motor], num=3))
    runs["paged"] = as_pages(runs["assets"])
    runs["several"] = runs["scan"] + runs["assets"] + count
    names = {case: [name for name, _ in docs] for case, docs in runs.items()}
    assert names["interleaved"][:2] == ["start", "start"]  # two runs open at once
    assert {"resource", "datum"} <= set(names["assets"])
    assert {"event_page", "datum_page"} <= set(names["paged"])
    return runs


# -- numpy-aware comparison ---------------------------------------------------------


class _NaN:
    def __repr__(self) -> str:
        return "NaN"


NAN = _NaN()


def plain(value: Any) -> Any:
    """Builtin form for comparison: numpy -> lists/items, tuples -> lists, types kept."""
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return NAN if math.isnan(value) else ("float", value)
    if isinstance(value, int):
        return ("int", value)
    return value


def assert_same_documents(got: Docs, expected: Docs) -> None:
    assert [name for name, _ in got] == [name for name, _ in expected]
    for index, ((_, doc), (_, want)) in enumerate(zip(got, expected, strict=True)):
        assert plain(doc) == plain(want), f"document {index} differs"


def read_until_error(source: Any) -> tuple[Docs, ReplayError]:
    got: Docs = []
    with pytest.raises(ReplayError) as info:
        for pair in iter_documents(source):
            got.append(pair)
    return got, info.value


# -- writers ------------------------------------------------------------------------


def split_runs(docs: Docs) -> list[Docs]:
    runs: list[Docs] = []
    for name, doc in docs:
        if name == "start":
            runs.append([])
        runs[-1].append((name, doc))
    return runs


def one_file(paths: list[Path], target: Path) -> Path:
    """The file itself, or the files concatenated (as ``cat`` would) into ``target``."""
    if len(paths) == 1:
        return paths[0]
    target.write_bytes(b"".join(path.read_bytes() for path in paths))
    return target


def write_with_suitcase(module: Any, docs: Docs, directory: Path, suffix: str) -> Path:
    files: list[Path] = []
    for index, run in enumerate(split_runs(docs)):
        prefix = f"{index:02d}-{{start[uid]}}"
        with module.Serializer(directory / "parts", file_prefix=prefix) as serializer:
            for name, doc in run:
                serializer(name, doc)
        files.extend(Path(name) for name in serializer.artifacts["all"])
    return one_file(files, directory / f"all{suffix}")


def write_suitcase_jsonl(docs: Docs, directory: Path) -> Path:
    return write_with_suitcase(suitcase.jsonl, docs, directory, ".jsonl")


def write_suitcase_msgpack(docs: Docs, directory: Path) -> Path:
    return write_with_suitcase(suitcase.msgpack, docs, directory, ".msgpack")


def write_with_bluesky(writer_class: Any, docs: Docs, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    writer = writer_class(str(directory))
    for name, doc in docs:
        writer(name, doc)
    return directory / writer.filename


def write_bluesky_jsonlines(docs: Docs, directory: Path) -> Path:
    return write_with_bluesky(JSONLinesWriter, docs, directory)


def write_bluesky_json(docs: Docs, directory: Path) -> Path:
    return write_with_bluesky(JSONWriter, docs, directory)


def target(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


def to_json(value: Any, **kwargs: Any) -> str:
    # NumpyEncoder is what suitcase-jsonl uses; NaN/Infinity tokens are kept.
    # Unlike the packaged writers, keep non-ASCII text as raw UTF-8.
    return json.dumps(value, cls=event_model.NumpyEncoder, ensure_ascii=False, **kwargs)


def write_json_seq(docs: Docs, directory: Path) -> Path:
    """RFC 7464: each record is RS, a JSON text and LF."""
    path = target(directory, "docs.json-seq")
    with open(path, "wb") as file:
        for name, doc in docs:
            file.write(b"\x1e" + to_json({"name": name, "doc": doc}).encode() + b"\n")
    return path


def write_tiled_json_seq(docs: Docs, directory: Path) -> Path:
    """The databroker / Tiled ``application/json-seq`` export: no record separator."""
    path = target(directory, "docs.seq")
    with open(path, "w", encoding="utf-8") as file:
        for name, doc in docs:
            file.write(to_json({"name": name, "doc": doc}) + "\n")
    return path


def write_json_array(docs: Docs, directory: Path, shape: Callable[[str, dict], Any]) -> Path:
    path = target(directory, "docs.json")
    elements = [to_json(shape(name, doc)) for name, doc in docs]
    path.write_text("[\n" + ",\n".join(elements) + "\n]\n", encoding="utf-8")
    return path


def write_json_array_of_objects(docs: Docs, directory: Path) -> Path:
    return write_json_array(docs, directory, lambda name, doc: {"name": name, "doc": doc})


def write_json_array_of_pairs(docs: Docs, directory: Path) -> Path:
    return write_json_array(docs, directory, lambda name, doc: [name, doc])


def write_msgpack_objects(docs: Docs, directory: Path) -> Path:
    """The databroker / Tiled ``application/x-msgpack`` export, numpy-aware."""
    path = target(directory, "docs.msgpack")
    with open(path, "wb") as file:
        for name, doc in docs:
            item = {"name": name, "doc": doc}
            file.write(msgpack.packb(item, default=msgpack_numpy.encode, use_bin_type=True))
    return path


ALL_CASES = frozenset({"scan", "images", "assets", "hugeint", "paged", "several", "interleaved"})
SINGLE_RUNS = frozenset({"scan", "images", "assets", "hugeint", "paged"})


@dataclass(frozen=True)
class Writer:
    id: str
    write: Callable[[Docs, Path], Path]
    format: str
    cases: frozenset[str]
    expect: Callable[[Docs], Docs] = list
    first_line: int | None = 1  # line of the first record; None: msgpack records

    def __repr__(self) -> str:
        return self.id


WRITERS = [
    Writer("suitcase-jsonl", write_suitcase_jsonl, "jsonl-pairs", SINGLE_RUNS | {"several"}),
    Writer("json-seq", write_json_seq, "json-seq", ALL_CASES),
    Writer("tiled-json-seq", write_tiled_json_seq, "jsonl-objects", ALL_CASES),
    Writer("array-of-objects", write_json_array_of_objects, "json-array", ALL_CASES,
           first_line=2),
    Writer("array-of-pairs", write_json_array_of_pairs, "json-array", ALL_CASES, first_line=2),
    # suitcase-msgpack stores events as event pages and datums as datum pages,
    # one file per run, and cannot pack integers beyond 64 bits.
    Writer("suitcase-msgpack", write_suitcase_msgpack, "msgpack",
           SINGLE_RUNS - {"hugeint"} | {"several"}, expect=as_pages, first_line=None),
    Writer("msgpack-objects", write_msgpack_objects, "msgpack", ALL_CASES - {"hugeint"},
           first_line=None),
]
# bluesky's writers use plain json.dump: no numpy arrays (the images case).
WRITERS += [
    Writer("bluesky-jsonlines", write_bluesky_jsonlines, "jsonl-objects",
           ALL_CASES - {"images"}),
    Writer("bluesky-json", write_bluesky_json, "json-array",
           frozenset({"scan", "assets", "hugeint", "paged"}), first_line=2),
]
TEXT_WRITERS = [writer for writer in WRITERS if writer.first_line is not None]
MSGPACK_WRITERS = [writer for writer in WRITERS if writer.first_line is None]
BY_ID = {writer.id: writer for writer in WRITERS}


def write(writer: Writer, docs: Docs, directory: Path, gzipped: bool = False) -> Path:
    path = writer.write(docs, directory)
    if not gzipped:
        return path
    zipped = path.with_name(path.name + ".gz")
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    return zipped


def compressions() -> list[Any]:
    return [pytest.param(False, id="plain"), pytest.param(True, id="gzip")]


ROUND_TRIPS = [
    pytest.param(writer, case, gzipped, id=f"{writer.id}-{case}-{'gzip' if gzipped else 'plain'}")
    for writer in WRITERS
    for case in sorted(writer.cases)
    for gzipped in (False, True)
]


def record_starts(writer: Writer, data: bytes) -> list[int]:
    """Byte offset where each record starts, derived from the writer's layout."""
    if writer.first_line is None:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(data)
        starts = [0]
        for _ in unpacker:
            starts.append(unpacker.tell())
        return starts[:-1]
    lines = data.splitlines(keepends=True)
    offsets = np.cumsum([0] + [len(line) for line in lines]).tolist()
    return offsets[writer.first_line - 1 : len(lines)]


def where(writer: Writer, path: Path, index: int) -> str:
    """How the reader names the place of record ``index`` (0-based) of ``path``."""
    if writer.first_line is None:
        return f"{path} record {index + 1}"
    return f"{path} line {writer.first_line + index}"


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize(("writer", "case", "gzipped"), ROUND_TRIPS)
def test_reads_back_exactly_what_the_writer_wrote(
    writer: Writer, case: str, gzipped: bool, corpus: dict[str, Docs], tmp_path: Path
) -> None:
    docs = corpus[case]
    path = write(writer, docs, tmp_path, gzipped)
    assert_same_documents(list(iter_documents(path)), writer.expect(docs))


@pytest.mark.parametrize("gzipped", compressions())
@pytest.mark.parametrize("writer", WRITERS, ids=repr)
def test_format_is_detected_from_content_not_file_name(
    writer: Writer, gzipped: bool, corpus: dict[str, Docs], tmp_path: Path
) -> None:
    path = write(writer, corpus["scan"], tmp_path, gzipped)
    misleading = path.rename(tmp_path / "stream.txt")
    expected = writer.format + ("+gzip" if gzipped else "")
    assert detect_format(misleading) == expected
    assert detect_format(misleading.read_bytes()[:300]) == expected
    assert_same_documents(list(iter_documents(misleading)), writer.expect(corpus["scan"]))


def test_nonstandard_nan_and_infinity_tokens_are_read(
    corpus: dict[str, Docs], tmp_path: Path
) -> None:
    path = write_suitcase_jsonl(corpus["scan"], tmp_path)
    first_line = path.read_bytes().splitlines()[0]
    assert b"NaN" in first_line and b"-Infinity" in first_line
    name, start = next(iter_documents(path))
    assert name == "start"
    assert math.isnan(start["nan"]) and start["inf"] == math.inf and start["ninf"] == -math.inf
    assert math.isnan(start["mixed"][1]) and start["mixed"][2] == -math.inf


@pytest.mark.parametrize("writer", [w for w in TEXT_WRITERS if "hugeint" in w.cases], ids=repr)
def test_huge_integers_keep_every_digit(
    writer: Writer, corpus: dict[str, Docs], tmp_path: Path
) -> None:
    path = write(writer, corpus["hugeint"], tmp_path)
    _, start = next(iter_documents(path))
    assert type(start["huge"]) is int and start["huge"] == 2**70
    assert start["negative"] == -(2**70)


def test_long_runs_of_digits_that_are_not_huge_integers_read_the_same_as_with_json(
    tmp_path: Path
) -> None:
    # 19 digits in a row that are no integer token: a fraction with leading zeros,
    # an exponent's mantissa, a string; and huge integers next to them.
    doc = {"uid": "u", "small": 0.0070162316995941755, "tiny": -1.0000000000000000002e-300,
           "text": "id-12345678901234567890", "big_float": 12345678901234567890.5,
           "huge": 12345678901234567890123, "negative": -(2**64), "int64_max": 2**63 - 1}
    path = tmp_path / "digits.jsonl"
    path.write_text(json.dumps(["start", doc]) + "\n" + json.dumps(["start", {"x": 1}]) + "\n")
    [(_, read), _] = list(iter_documents(path))
    assert read == json.loads(json.dumps(doc))
    assert [type(read[k]) for k in ("huge", "negative", "int64_max")] == [int, int, int]


def test_suitcase_msgpack_numpy_values_come_back_as_numpy(
    run_engine: RunEngine, tmp_path: Path
) -> None:
    table = np.array([(1, 2.5), (3, -1.0)], dtype=[("index", "<i4"), ("value", "<f8")])
    md = {"scale": np.float32(1.5), "phase": 1 + 2j, "table": table}
    docs = record(run_engine, bp.count([direct_img], num=2), **md)
    located = list(iter_located(write_suitcase_msgpack(docs, tmp_path)))
    start = located[0].doc
    assert isinstance(start["scale"], np.float32) and start["scale"] == np.float32(1.5)
    assert start["phase"] == 1 + 2j
    assert start["table"].dtype == table.dtype and (start["table"] == table).all()
    frames = [loc.doc["data"]["img"][0] for loc in located if loc.name == "event_page"]
    sent = [doc["data"]["img"] for name, doc in docs if name == "event"]
    assert len(frames) == len(sent) == 2
    for frame, original in zip(frames, sent, strict=True):
        assert frame.dtype == original.dtype and frame.shape == original.shape
        np.testing.assert_array_equal(frame, original)
        assert frame.flags.writeable


def test_lines_and_records_are_numbered_from_one(corpus: dict[str, Docs], tmp_path: Path) -> None:
    docs = corpus["scan"]
    jsonl = list(iter_located(write_suitcase_jsonl(docs, tmp_path / "jsonl")))
    array = list(iter_located(write_json_array_of_pairs(docs, tmp_path / "array")))
    packed = list(iter_located(write_msgpack_objects(docs, tmp_path / "msgpack")))
    count = len(docs)
    assert [loc.line for loc in jsonl] == list(range(1, count + 1))
    assert [loc.line for loc in array] == list(range(2, count + 2))  # line 1 is "["
    assert [(loc.line, loc.unit) for loc in packed] == [(n, "record") for n in range(1, count + 1)]
    assert jsonl[2].location == f"{jsonl[2].path} line 3"
    assert packed[2].location == f"{packed[2].path} record 3"


def test_pretty_printed_records_are_located_at_their_first_line(
    corpus: dict[str, Docs], tmp_path: Path
) -> None:
    docs = corpus["scan"][:4]
    texts = [to_json({"name": name, "doc": doc}, indent=2) for name, doc in docs]
    seq = tmp_path / "pretty.json-seq"
    seq.write_text("".join(f"\x1e{text}\n" for text in texts), encoding="utf-8")
    array = tmp_path / "pretty.json"
    array.write_text(to_json([[name, doc] for name, doc in docs], indent=2), encoding="utf-8")
    starts = np.cumsum([1] + [text.count("\n") + 1 for text in texts]).tolist()[:-1]
    located = list(iter_located(seq))
    assert_same_documents([(loc.name, loc.doc) for loc in located], docs)
    assert [loc.line for loc in located] == starts
    assert detect_format(array) == "json-array"
    array_lines = array.read_text().splitlines()
    element_lines = [loc.line for loc in iter_located(array)]
    assert element_lines[0] == 2
    assert all(array_lines[line - 1] == "  [" for line in element_lines)
    assert_same_documents(list(iter_documents(array)), docs)


# -- sources: directories, stdin, file objects --------------------------------------------


def test_directory_yields_its_stream_files_sorted_by_name(
    corpus: dict[str, Docs], tmp_path: Path
) -> None:
    directory = tmp_path / "streams"
    directory.mkdir()
    scan, assets, count = split_runs(corpus["several"])
    write_suitcase_jsonl(scan, tmp_path / "a").rename(directory / "b-scan.jsonl")
    write(BY_ID["suitcase-msgpack"], assets, tmp_path / "b", gzipped=True).rename(
        directory / "a-assets"
    )
    write_json_array_of_objects(count, tmp_path / "c").rename(directory / "c-count.json")
    (directory / ".hidden").write_bytes(b"not a stream")
    (directory / "nested").mkdir()
    (directory / "nested" / "d.jsonl").write_bytes(b"not a stream either")
    assert [path.name for path in stream_files(directory)] == [
        "a-assets",
        "b-scan.jsonl",
        "c-count.json",
    ]
    assert_same_documents(list(iter_documents(directory)), as_pages(assets) + scan + count)
    assert [loc.path for loc in iter_located(directory)][0] == str(directory / "a-assets")


def test_directory_names_a_file_it_cannot_open(corpus: dict[str, Docs], tmp_path: Path) -> None:
    write_json_seq(corpus["scan"], tmp_path)
    dangling = tmp_path / "z-moved.jsonl"
    dangling.symlink_to(tmp_path / "gone.jsonl")
    got, error = read_until_error(tmp_path)
    assert_same_documents(got, corpus["scan"])
    assert str(error).startswith(f"{dangling}: cannot open")


def test_directory_names_a_file_in_no_known_format(
    corpus: dict[str, Docs], tmp_path: Path
) -> None:
    write_json_seq(corpus["scan"], tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("measured with the new slits\n")
    got, error = read_until_error(tmp_path)
    assert_same_documents(got, corpus["scan"])
    seen = "it starts with b'measured with the new slits\\n'"
    assert str(error) == f"{notes}: not a Bluesky document stream ({seen})"


def test_missing_file_is_named(tmp_path: Path) -> None:
    _, error = read_until_error(tmp_path / "absent.jsonl")
    assert str(error) == f"{tmp_path / 'absent.jsonl'}: cannot open (No such file or directory)"


READ_STDIN = (
    "import json\n"
    "from resonance_callback.replay.formats import iter_located\n"
    "for loc in iter_located('-'):\n"
    "    print(json.dumps([loc.name, loc.doc.get('uid'), loc.location]), flush=True)\n"
)


@pytest.mark.parametrize("gzipped", compressions())
@pytest.mark.parametrize("writer_id", ["suitcase-jsonl", "suitcase-msgpack", "array-of-pairs"])
def test_dash_reads_standard_input(
    writer_id: str, gzipped: bool, corpus: dict[str, Docs], tmp_path: Path
) -> None:
    writer = BY_ID[writer_id]
    docs = writer.expect(corpus["assets"])
    path = write(writer, corpus["assets"], tmp_path, gzipped)
    with open(path, "rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-c", READ_STDIN], stdin=stdin, capture_output=True, check=True
        )
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [(name, uid) for name, uid, _ in rows] == [(n, d.get("uid")) for n, d in docs]
    unit = "record" if writer.first_line is None else "line"
    assert rows[0][2] == f"<stdin> {unit} {writer.first_line or 1}"


def test_truncated_standard_input_names_stdin_and_line(
    corpus: dict[str, Docs], tmp_path: Path
) -> None:
    data = write_suitcase_jsonl(corpus["scan"], tmp_path).read_bytes()
    cut = data[: data.index(b"\n", data.index(b"\n") + 1) + 20]  # into line 3
    result = subprocess.run(
        [sys.executable, "-c", READ_STDIN], input=cut, capture_output=True, check=False
    )
    assert result.returncode != 0
    assert len(result.stdout.decode().splitlines()) == 2
    assert "ReplayError: <stdin> line 3: unterminated JSON (truncated file?)" in (
        result.stderr.decode()
    )


def test_open_binary_file_objects_are_read_and_left_open(
    corpus: dict[str, Docs], tmp_path: Path
) -> None:
    path = write_json_seq(corpus["images"], tmp_path)
    with open(path, "rb") as file:
        located = list(iter_located(file))
        assert not file.closed
    assert located[0].path == str(path)
    assert_same_documents([(loc.name, loc.doc) for loc in located], corpus["images"])
    buffer = io.BytesIO(gzip.compress(path.read_bytes()))
    assert_same_documents(list(iter_documents(buffer)), corpus["images"])


def test_text_mode_file_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('["start", {}]\n')
    with open(path, encoding="utf-8") as file, pytest.raises(TypeError, match="binary"):
        list(iter_documents(file))


# -- damage ------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", TEXT_WRITERS, ids=repr)
def test_truncated_text_file_keeps_complete_prefix_and_names_file_and_line(
    writer: Writer, corpus: dict[str, Docs], tmp_path: Path
) -> None:
    path = write(writer, corpus["scan"], tmp_path)
    data = path.read_bytes()
    starts = record_starts(writer, data)
    index = 3
    path.write_bytes(data[: (starts[index] + starts[index + 1]) // 2])  # mid record 3
    got, error = read_until_error(path)
    assert_same_documents(got, writer.expect(corpus["scan"])[:index])
    assert str(error) == f"{where(writer, path, index)}: unterminated JSON (truncated file?)"


@pytest.mark.parametrize("index", [0, 3], ids=["start", "event"])
@pytest.mark.parametrize(
    "writer_id", ["suitcase-jsonl", "json-seq", "array-of-objects", "bluesky-jsonlines"]
)
def test_cut_at_any_byte_inside_a_record_is_reported_as_truncated(
    writer_id: str, index: int, corpus: dict[str, Docs], tmp_path: Path
) -> None:
    writer = BY_ID[writer_id]
    path = write(writer, corpus["scan"], tmp_path)
    data = path.read_bytes()
    starts = record_starts(writer, data)
    record = data[starts[index] : starts[index + 1]]
    # The JSON text of the record, without its separator and line end or comma.
    first = starts[index] + len(record) - len(record.lstrip(b"\x1e"))
    last = starts[index] + len(record.rstrip(b",\n"))
    expected = writer.expect(corpus["scan"])[:index]
    message = f"{where(writer, path, index)}: unterminated JSON (truncated file?)"
    # Every byte of an event; every 7th of the long start document, plus every
    # byte around its raw non-ASCII text if any (cuts inside a UTF-8 character).
    cuts = set(range(first + 1, last, 7 if index == 0 else 1))
    accent = data.find("Å".encode(), first, last)
    cuts |= set(range(accent - 2, accent + 8)) if accent >= 0 else set()
    for cut in sorted(cuts):
        path.write_bytes(data[:cut])
        got, error = read_until_error(path)
        assert (len(got), str(error)) == (index, message), f"cut at byte {cut}"
    assert_same_documents(got, expected)


@pytest.mark.parametrize("writer_id", ["suitcase-jsonl", "array-of-objects"])
def test_invalid_utf8_is_reported_at_its_line(
    writer_id: str, corpus: dict[str, Docs], tmp_path: Path
) -> None:
    writer = BY_ID[writer_id]
    path = write(writer, corpus["scan"], tmp_path)
    data = path.read_bytes()
    bad = record_starts(writer, data)[2] + 5
    path.write_bytes(data[:bad] + b"\xff" + data[bad + 1 :])
    got, error = read_until_error(path)
    assert_same_documents(got, corpus["scan"][:2])
    assert str(error).startswith(f"{where(writer, path, 2)}: not UTF-8 text (")


@pytest.mark.parametrize("writer", MSGPACK_WRITERS, ids=repr)
def test_truncated_msgpack_keeps_complete_records_and_names_file_and_record(
    writer: Writer, corpus: dict[str, Docs], tmp_path: Path
) -> None:
    path = write(writer, corpus["images"], tmp_path)
    data = path.read_bytes()
    starts = record_starts(writer, data)
    index = 3
    path.write_bytes(data[: (starts[index] + starts[index + 1]) // 2])  # inside a frame
    got, error = read_until_error(path)
    assert_same_documents(got, writer.expect(corpus["images"])[:index])
    assert str(error) == (
        f"{where(writer, path, index)} (byte {starts[index]}): "
        "incomplete msgpack record (truncated file?)"
    )


def pack(*values: Any) -> bytes:
    return b"".join(
        msgpack.packb(value, default=msgpack_numpy.encode, use_bin_type=True) for value in values
    )


@pytest.mark.parametrize(
    ("second", "problem"),
    [
        (pack(42), 'expected a [name, doc] pair or a {"name": ..., "doc": ...} object, got 42'),
        (pack({"name": "stop"}), "expected a [name, doc] pair or a "
                                 '{"name": ..., "doc": ...} object, got {\'name\': \'stop\'}'),
        (pack([b"stop", {}]), "expected a string name and a dict document, got bytes and dict"),
        (b"\xc1" + pack(["stop", {}]), "invalid msgpack ("),
        (pack(["event", {"data": np.array([1, "a"], dtype=object)}]),
         "invalid msgpack (an object-dtype numpy array is pickled; refusing to unpickle it)"),
    ],
    ids=["number", "map-without-doc", "bytes-name", "reserved-byte", "pickled-array"],
)
def test_bad_msgpack_record_is_reported_with_its_number_and_offset(
    second: bytes, problem: str, tmp_path: Path
) -> None:
    first = pack(["start", {"uid": "a", "when": 1.5}])
    path = tmp_path / "docs.msgpack"
    path.write_bytes(first + second)
    got, error = read_until_error(path)
    assert got == [("start", {"uid": "a", "when": 1.5})]
    assert str(error).startswith(f"{path} record 2 (byte {len(first)}): {problem}")


@pytest.mark.parametrize("writer", WRITERS, ids=repr)
def test_truncated_gzip_reports_file_and_line(
    writer: Writer, corpus: dict[str, Docs], tmp_path: Path
) -> None:
    path = write(writer, corpus["scan"], tmp_path)
    data = path.read_bytes()
    index = 3
    boundary = record_starts(writer, data)[index]
    # Flush the compressor at the record boundary, then keep one byte of the
    # next deflate block: the complete part decompresses to exactly the records
    # before ``index`` and nothing more.
    compressor = zlib.compressobj(wbits=31)
    head = compressor.compress(data[:boundary]) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.compress(data[boundary:]) + compressor.flush()
    cut = path.with_name(path.name + ".gz")
    cut.write_bytes(head + tail[:1])
    got, error = read_until_error(cut)
    assert_same_documents(got, writer.expect(corpus["scan"])[:index])
    byte = f" (byte {boundary})" if writer.first_line is None else ""
    assert str(error) == (
        f"{where(writer, cut, index)}{byte}: gzip data ends early (truncated file?)"
    )


@pytest.mark.parametrize("writer", WRITERS, ids=repr)
def test_gzip_cut_anywhere_keeps_a_correct_prefix(
    writer: Writer, corpus: dict[str, Docs], tmp_path: Path
) -> None:
    case = next(c for c in ("several", "images", "assets") if c in writer.cases)
    path = write(writer, corpus[case], tmp_path, gzipped=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    got, error = read_until_error(path)
    expected = writer.expect(corpus[case])
    assert len(got) < len(expected)
    assert_same_documents(got, expected[: len(got)])
    assert str(error).startswith(str(path))
    assert "gzip data ends early (truncated file?)" in str(error)


def decompressed_until_damage(damaged: bytes, original: bytes) -> int:
    """How many leading bytes of ``original`` the damaged gzip data still decodes to."""
    decompressor, out = zlib.decompressobj(wbits=31), bytearray()
    try:
        for offset in range(0, len(damaged), 64):
            out += decompressor.decompress(damaged[offset : offset + 64])
    except zlib.error:
        pass
    length = min(len(out), len(original))
    return next((i for i in range(length) if out[i] != original[i]), length)


def test_corrupt_gzip_keeps_a_correct_prefix_and_names_the_file(
    corpus: dict[str, Docs], tmp_path: Path
) -> None:
    docs = corpus["several"] * 20
    path = write(BY_ID["tiled-json-seq"], docs, tmp_path, gzipped=True)
    original = path.with_suffix("").read_bytes()
    data = bytearray(path.read_bytes())
    damage = len(data) * 3 // 4
    data[damage : damage + 8] = bytes(255 - byte for byte in data[damage : damage + 8])
    path.write_bytes(bytes(data))
    got, error = read_until_error(path)
    # Deflate damage may decode to wrong bytes before zlib or the CRC at the end
    # of the member notices: only documents decoded before that are sure.
    sure = min(len(got), original[: decompressed_until_damage(data, original)].count(b"\n"))
    assert sure > 0
    assert_same_documents(got[:sure], docs[:sure])
    assert re.match(rf"{re.escape(str(path))} line \d+: ", str(error))


def test_gzip_damaged_at_its_start_is_reported_at_line_one(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl.gz"
    path.write_bytes(gzip.compress(b'["start", {}]\n' * 1000)[:12])
    _, error = read_until_error(path)
    assert str(error) == f"{path} line 1: gzip data ends early (truncated file?)"


def test_unfinished_json_array_yields_everything_then_reports_missing_bracket(
    corpus: dict[str, Docs], tmp_path: Path
) -> None:
    # bluesky's JSONWriter closes the array on "stop": a run that crashed has none.
    docs = [(name, doc) for name, doc in corpus["scan"] if name != "stop"]
    path = BY_ID["array-of-objects"].write(docs, tmp_path)
    path.write_text(path.read_text().removesuffix("\n]\n") + ",\n")
    got, error = read_until_error(path)
    assert_same_documents(got, docs)
    assert str(error) == (
        f"{path} line {len(docs) + 2}: "
        "unterminated JSON array, no closing ']' (truncated file?)"
    )


def test_invalid_json_in_the_middle_reports_its_line_and_column(
    corpus: dict[str, Docs], tmp_path: Path
) -> None:
    path = write_suitcase_jsonl(corpus["scan"], tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b'["event", {"seq_num": 1,, "data": {}}]\n'
    path.write_bytes(b"".join(lines))
    got, error = read_until_error(path)
    assert_same_documents(got, corpus["scan"][:2])
    assert str(error) == f"{path} line 3: invalid JSON (Expecting property name enclosed in " \
        "double quotes, column 25)"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"name": "start"}', """expected a [name, doc] pair or a {"name": ..., "doc": ...} """
                               """object, got {'name': 'start'}"""),
        (b'[1, {"uid": "x"}]', "expected a string name and a dict document, got int and dict"),
        (b'["start", [1, 2]]', "expected a string name and a dict document, got str and list"),
        (b'["start", {}, {}]', """expected a [name, doc] pair or a {"name": ..., "doc": ...} """
                               """object, got ['start', {}, {}]"""),
    ],
    ids=["object-without-doc", "number-name", "list-doc", "three-items"],
)
def test_record_that_is_not_a_name_doc_pair_is_rejected(
    line: bytes, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b'["start", {"uid": "a"}]\n\n' + line + b"\n")
    got, error = read_until_error(path)
    assert got == [("start", {"uid": "a"})]
    assert str(error) == f"{path} line 3: {problem}"


@pytest.mark.parametrize(
    ("content", "seen"),
    [
        (b"hello world\n", "it starts with b'hello world\\n'"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "it starts with b'\\x89PNG\\r\\n\\x1a\\n\\x00\\x00'"),
        (bz2.compress(b'["start", {}]\n'), "it is bzip2-compressed data (decompress it first)"),
        (b"[1, 2, 3]\n", "it starts with b'[1, 2, 3]\\n'"),
        (gzip.compress(b"hello world\n"), "it starts with b'hello world\\n'"),
    ],
    ids=["text", "png", "bzip2", "numbers", "gzipped-text"],
)
def test_file_in_no_known_format_is_named_with_what_was_seen(
    content: bytes, seen: str, tmp_path: Path
) -> None:
    path = tmp_path / "mystery.jsonl"
    path.write_bytes(content)
    _, error = read_until_error(path)
    assert str(error) == f"{path}: not a Bluesky document stream ({seen})"
    with pytest.raises(ReplayError, match="not a Bluesky document stream"):
        detect_format(path)


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"", "empty"),
        (b" \n\t\r\n", "empty"),
        (gzip.compress(b""), "empty+gzip"),
        (b"[\n]\n", "json-array"),
        (b"\xef\xbb\xbf[]", "json-array"),
    ],
    ids=["empty", "whitespace", "empty-gzip", "empty-array", "bom-empty-array"],
)
def test_empty_stream_yields_nothing(content: bytes, name: str, tmp_path: Path) -> None:
    path = tmp_path / "nothing"
    path.write_bytes(content)
    assert list(iter_documents(path)) == []
    assert detect_format(path) == name


def test_records_of_both_shapes_mix_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf["start", {"uid": "a", "x": -Infinity}]\r\n'
        b'{"name": "stop", "doc": {"run_start": "a"}, "extra": 1}\r\n'
    )
    got = list(iter_documents(path))
    assert got == [("start", {"uid": "a", "x": -math.inf}), ("stop", {"run_start": "a"})]
