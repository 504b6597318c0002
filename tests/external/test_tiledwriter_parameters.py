"""Stream-resource parameters and mimetypes read as TiledWriter reads them (issue 22).

Each case writes real detector files (h5py, tifffile, Pillow, numpy), composes
the documents with event-model's ``compose_run`` and stores them twice: fed to
the callback live, and replayed from a saved stream. Every event must then hold
what TiledWriter's consolidators and Tiled's adapters give that event
(``multiplier``, ``join_method``, ``slice``, ``squeeze``, ``chunk_shape``,
``dataset``, ``template``, ``swmr``), for HDF5, TIFF, JPEG, NPY and
octet-stream files. A parameter TiledWriter does not read is refused by name
(the frames recorded in ``unresolved_frames``), never ignored; an unreadable
frame is recorded and listed by ``check``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import event_model
import h5py
import numpy as np
import pytest
import tifffile
import xarray
from event_model.documents.stream_datum import StreamRange

from resonance_callback.read import check_beamtime, open_beamtime

from ..conftest import Captured
from .test_confinement import store_both_ways
from .test_detector_files import stored_frames, unresolved

HDF5 = "application/x-hdf5"
TIFF = "multipart/related;type=image/tiff"
JPEG = "multipart/related;type=image/jpeg"
NPY = "multipart/related;type=application/x-npy"
OCTET = "application/octet-stream"


@dataclass
class Case:
    """A run's documents and what each event of its key must hold (by seq_num)."""

    docs: Captured
    key: str
    expected: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        return self.docs.of("start")[0]["uid"]


def compose(key: str, declared: dict[str, Any], mimetype: str, uri: str,
            parameters: dict[str, Any], ranges: list[tuple[int, int]]) -> Captured:
    """The documents of a fly-like run: one key fed by one stream resource's stream datums."""
    run = event_model.compose_run()
    docs = Captured()
    docs("start", run.start_doc)
    data_key = {"source": "file", "dtype": "array", "external": "STREAM:", **declared}
    desc = run.compose_descriptor(name="primary", data_keys={key: data_key},
                                  object_keys={"det": [key]})
    docs("descriptor", desc.descriptor_doc)
    sres = run.compose_stream_resource(mimetype=mimetype, uri=uri, data_key=key,
                                       parameters=parameters)
    docs("stream_resource", sres.stream_resource_doc)
    for start, stop in ranges:
        docs("stream_datum", sres.compose_stream_datum(
            indices=StreamRange(start=start, stop=stop),
            seq_nums=StreamRange(start=start + 1, stop=stop + 1),
            descriptor=desc.descriptor_doc))
    docs("stop", run.compose_stop())
    return docs


def by_seq(rows: np.ndarray) -> dict[int, np.ndarray]:
    return {seq: row for seq, row in enumerate(rows, start=1)}


def frames(n: int, shape: tuple[int, ...], dtype: Any = np.uint16) -> np.ndarray:
    return (np.arange(n * int(np.prod(shape))) % 60000).astype(dtype).reshape((n, *shape))


def write_h5(path: Path, dataset: str, data: np.ndarray) -> str:
    with h5py.File(path, "w") as f:
        f.create_dataset(dataset, data=data)
    return f"file://localhost{path}"


# --------------------------------------------------------------------------- cases


def multiplier_case(tmp: Path, declared_shape: list[int], name: str = "multiplier") -> Case:
    data = frames(6, (4, 5))
    uri = write_h5(tmp / "mult.h5", "/entry/data/data", data)
    docs = compose("cam", {"shape": declared_shape, "dtype_numpy": "<u2"}, HDF5, uri,
                   {"dataset": "/entry/data/data", "chunk_shape": [1, 4, 5], name: 2},
                   [(0, 1), (1, 3)])
    return Case(docs, "cam", by_seq(data.reshape(3, 2, 4, 5)))


def concat_case(tmp: Path) -> Case:
    data = frames(3, (4, 5))
    uri = write_h5(tmp / "concat.h5", "/entry/data/data", data)
    docs = compose("cam", {"shape": [1, 4, 5], "dtype_numpy": "<u2"}, HDF5, uri,
                   {"dataset": "/entry/data/data", "chunk_shape": [100, 4, 5],
                    "join_method": "concat"}, [(0, 3)])
    return Case(docs, "cam", by_seq(data))


def slice_case(tmp: Path, squeeze: bool) -> Case:
    data = frames(3, (13, 17)).astype("<i8")
    uri = write_h5(tmp / "sliced.h5", "/entry/data/data_2", data)
    declared = [1, 17] if squeeze else [1, 5, 17]
    docs = compose("cam", {"shape": declared, "dtype_numpy": "<i8"}, HDF5, uri,
                   {"dataset": "/entry/data/data_2", "chunk_shape": [1],
                    "slice": ":,5,:" if squeeze else ":,:5,:", "squeeze": squeeze},
                   [(0, 1), (1, 3)])
    selected = data[:, 5:6, :] if squeeze else data[:, :5, :][:, np.newaxis]
    return Case(docs, "cam", by_seq(selected))


def squeeze_only_case(tmp: Path) -> Case:
    data = frames(4, (1500, 1))  # longer than inline_limit: frames in Zarr
    uri = write_h5(tmp / "squeezed.h5", "/data", data)
    docs = compose("trace", {"shape": [1500], "dtype_numpy": "<u2"}, HDF5, uri,
                   {"dataset": "/data", "squeeze": True, "swmr": False}, [(0, 4)])
    return Case(docs, "trace", by_seq(data[:, :, 0]))


def multipage_tiff_case(tmp: Path) -> Case:
    directory = tmp / "tiffs"
    directory.mkdir()
    data = frames(8, (6, 7), np.uint8)
    for number in range(4):  # two pages per file, two files per event
        tifffile.imwrite(directory / f"img_{number:05d}.tif", data[2 * number:2 * number + 2])
    docs = compose("cam", {"shape": [4, 6, 7], "dtype_numpy": "|u1"}, TIFF,
                   f"file://localhost{directory}/",
                   {"template": "img_{:05d}.tif", "chunk_shape": [2, 6, 7]}, [(0, 1), (1, 2)])
    return Case(docs, "cam", by_seq(data.reshape(2, 4, 6, 7)))


def tiff_multiplier_case(tmp: Path) -> Case:
    directory = tmp / "tiff1"
    directory.mkdir()
    data = frames(6, (6, 7), np.uint8)
    for number, frame in enumerate(data):
        tifffile.imwrite(directory / f"img_{number:05d}.tif", frame)
    docs = compose("cam", {"shape": [1, 6, 7], "dtype_numpy": "|u1"}, TIFF,
                   f"file://localhost{directory}/",
                   {"template": "img_{:05d}.tif", "chunk_shape": [1, 6, 7], "multiplier": 3},
                   [(0, 2)])
    return Case(docs, "cam", by_seq(data.reshape(2, 3, 6, 7)))


def multipart_hdf5_case(tmp: Path) -> Case:
    directory = tmp / "multipart"
    directory.mkdir()
    data = frames(3, (4, 5)).astype("<f8")
    for number in range(3):
        write_h5(directory / f"part_{number:06d}.h5", "/entry/data/data", data[number:number + 1])
    docs = compose("cam", {"shape": [1, 4, 5], "dtype_numpy": "<f8"}, HDF5,
                   f"file://localhost{directory}/",
                   {"dataset": "/entry/data/data", "template": "part_{:06d}.h5",
                    "chunk_shape": [1, 4, 5]}, [(0, 2), (2, 3)])
    return Case(docs, "cam", by_seq(data[:, np.newaxis]))


def jpeg_case(tmp: Path) -> Case:
    from PIL import Image

    directory = tmp / "jpegs"
    directory.mkdir()
    read_back = []
    for number in range(3):
        image = (np.arange(8 * 10).reshape(8, 10) * (number + 1) % 256).astype(np.uint8)
        path = directory / f"img_{number:04d}.jpg"
        Image.fromarray(image).save(path, quality=95)
        read_back.append(np.asarray(Image.open(path)))
    docs = compose("cam", {"shape": [1, 8, 10], "dtype_numpy": "|u1"}, JPEG,
                   f"file://localhost{directory}/",
                   {"template": "img_{:04d}.jpg", "chunk_shape": [1, 8, 10]}, [(0, 3)])
    return Case(docs, "cam", by_seq(np.stack(read_back)[:, np.newaxis]))


def npy_case(tmp: Path) -> Case:
    data = frames(3, (5, 6)).astype("<i4")
    for number, frame in enumerate(data):
        np.save(tmp / f"stem_{number}.npy", frame)
    docs = compose("img", {"shape": [5, 6], "dtype_numpy": "<i4"}, NPY,
                   f"file://localhost{tmp}/stem", {}, [(0, 1), (1, 3)])
    return Case(docs, "img", by_seq(data))


def octet_case(tmp: Path) -> Case:
    directory = tmp / "blobs"
    directory.mkdir()
    payloads = [f"payload-{number}".encode() + bytes([number]) for number in range(3)]
    for number, payload in enumerate(payloads):
        (directory / f"blob_{number:05d}.bin").write_bytes(payload)
    docs = compose("blob", {"shape": [1], "dtype_numpy": "|u1"}, OCTET,
                   f"file://localhost{directory}/", {"template": "blob_{:05d}.bin"},
                   [(0, 2), (2, 3)])
    return Case(docs, "blob", {seq: np.frombuffer(p, np.uint8)
                               for seq, p in enumerate(payloads, start=1)})


CASES: dict[str, Callable[[Path], Case]] = {
    "multiplier-over-HxW": lambda tmp: multiplier_case(tmp, [4, 5]),
    "multiplier-over-1xHxW": lambda tmp: multiplier_case(tmp, [1, 4, 5]),
    "frame_per_point": lambda tmp: multiplier_case(tmp, [4, 5], "frame_per_point"),
    "join_method-concat": concat_case,
    "slice": lambda tmp: slice_case(tmp, squeeze=False),
    "slice-and-squeeze": lambda tmp: slice_case(tmp, squeeze=True),
    "squeeze-swmr-off": squeeze_only_case,
    "chunk_shape-multipage-tiff": multipage_tiff_case,
    "tiff-multiplier": tiff_multiplier_case,
    "hdf5-template-dataset": multipart_hdf5_case,
    "jpeg": jpeg_case,
    "npy": npy_case,
}


def stored_values(db: Path, case: Case) -> dict[int, np.ndarray]:
    """Each event's value of the key: its frame, else the value in ``events.data``."""
    found = stored_frames(db, case.uid, case.key)
    if found:
        return found
    stream = open_beamtime(db)[case.uid]["primary"]
    values = stream.read()[case.key].values
    return {seq: np.asarray(value) for seq, value in enumerate(values, start=1)}


def assert_events_hold(stored: dict[int, np.ndarray], expected: dict[int, np.ndarray]) -> None:
    assert sorted(stored) == sorted(expected)
    for seq, value in expected.items():
        assert stored[seq].shape == value.shape, (seq, stored[seq].shape, value.shape)
        assert stored[seq].dtype == value.dtype, seq
        np.testing.assert_array_equal(stored[seq], value)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", list(CASES))
def test_each_event_holds_what_tiledwriter_gives_it_live_and_replayed(tmp_path, name):
    case = CASES[name](tmp_path)
    for db in store_both_ways(case.docs, tmp_path, [tmp_path]):
        assert unresolved(db) == []
        assert_events_hold(stored_values(db, case), case.expected)


def test_octet_stream_events_hold_their_files_bytes_live_and_replayed(tmp_path):
    case = octet_case(tmp_path)
    for db in store_both_ways(case.docs, tmp_path, [tmp_path]):
        assert unresolved(db) == []
        assert_events_hold(stored_frames(db, case.uid, case.key), case.expected)


def test_octet_stream_without_template_gives_its_one_file_to_the_event(tmp_path):
    blob = b"\x00\x01\x02opaque-blob\xff"
    (tmp_path / "blob.bin").write_bytes(blob)
    docs = compose("blob", {"shape": [1], "dtype_numpy": "|u1"}, OCTET,
                   f"file://localhost{tmp_path}/blob.bin", {}, [(0, 1)])
    uid = docs.of("start")[0]["uid"]
    for db in store_both_ways(docs, tmp_path, [tmp_path]):
        assert unresolved(db) == []
        assert_events_hold(stored_frames(db, uid, "blob"), {1: np.frombuffer(blob, np.uint8)})


def test_hdf5_path_parameter_names_the_dataset_as_tiledwriter_renames_it(tmp_path):
    case = concat_case(tmp_path)
    parameters = case.docs.of("stream_resource")[0]["parameters"]
    parameters["path"] = parameters.pop("dataset")
    for db in store_both_ways(case.docs, tmp_path, [tmp_path]):
        assert unresolved(db) == []
        assert_events_hold(stored_frames(db, case.uid, case.key), case.expected)


def test_unknown_parameter_is_recorded_unresolved_by_name_and_listed_by_check(tmp_path):
    case = concat_case(tmp_path)
    case.docs.of("stream_resource")[0]["parameters"]["transpose"] = True
    for db in store_both_ways(case.docs, tmp_path, [tmp_path]):
        rows = unresolved(db)
        assert [seq for _, seq, _, _ in rows] == [1, 2, 3]
        assert all("'transpose'" in reason and "unknown parameter" in reason
                   for _, _, _, reason in rows)
        report = check_beamtime(db)
        assert len(report.unresolved_frames) == 3
        assert "transpose" in report.unresolved_frames[0]["reason"]


@pytest.mark.parametrize(("parameter", "value"), [
    ("squeeze", "yes"), ("swmr", 1), ("slice", "__import__('os')"), ("slice", ":,::-1"),
    ("locking", "always"), ("slice", ",".join(["0"] * 40))])
def test_malformed_parameter_value_is_refused_naming_it(tmp_path, parameter, value):
    case = concat_case(tmp_path)
    case.docs.of("stream_resource")[0]["parameters"][parameter] = value
    for db in store_both_ways(case.docs, tmp_path, [tmp_path]):
        rows = unresolved(db)
        assert len(rows) == 3
        assert all(parameter in reason for _, _, _, reason in rows)


def test_unreadable_frame_is_recorded_and_listed_by_check(tmp_path):
    case = npy_case(tmp_path)
    (tmp_path / "stem_1.npy").unlink()
    (tmp_path / "stem_1.npy").mkdir()  # a directory where the frame's file should be
    for db in store_both_ways(case.docs, tmp_path, [tmp_path]):
        rows = unresolved(db)
        # stem_1 is in the second stream_datum (events 2 and 3): both are recorded
        assert [seq for _, seq, _, _ in rows] == [2, 3]
        assert all("stem_1.npy" in reason for _, _, _, reason in rows)
        assert sorted(stored_frames(db, case.uid, case.key)) == [1]
        report = check_beamtime(db)
        assert {u["seq_num"] for u in report.unresolved_frames} == {2, 3}
        assert "unresolved detector frames: 2" in report.lines()


# --------------------------------------------------------------------------- ophyd (v1) resources


def v1_run(spec: str, root: Path, resource_path: str, shape: list[int], dtype_numpy: str,
           resource_kwargs: dict[str, Any], datum_kwargs: list[dict[str, Any]]) -> Captured:
    """A resource, one datum per event, as an ophyd (v1) detector with a file plugin emits."""
    run = event_model.compose_run()
    key = {"dtype": "array", "shape": shape, "dtype_numpy": dtype_numpy, "source": "PV:cam",
           "external": "FILESTORE:"}
    desc = run.compose_descriptor(data_keys={"cam": key}, name="primary")
    resource = run.compose_resource(spec=spec, root=str(root), resource_path=resource_path,
                                    resource_kwargs=resource_kwargs)
    docs = Captured([("start", run.start_doc), ("descriptor", desc.descriptor_doc),
                     ("resource", resource.resource_doc)])
    for seq, kwargs in enumerate(datum_kwargs, start=1):
        datum = resource.compose_datum(datum_kwargs=kwargs)
        docs.append(("datum", datum))
        docs.append(("event", desc.compose_event(data={"cam": datum["datum_id"]},
                                                 timestamps={"cam": float(seq)},
                                                 filled={"cam": False}, seq_num=seq)))
    docs.append(("stop", run.compose_stop()))
    return docs


def leading_slash_tiff_run(tmp: Path, filename: str = "img") -> tuple[Captured, np.ndarray]:
    """bluesky-tiled-plugins' shared-resource example: AD_TIFF, template '/%s%s_%5.5d.tif'."""
    directory = tmp / "tiff_files"
    directory.mkdir(parents=True, exist_ok=True)
    data = frames(3, (10, 15), np.uint8)
    for number, frame in enumerate(data):  # as area detector writes them
        tifffile.imwrite("/%s%s_%5.5d.tif" % (f"{directory}/", "img", number), frame)  # noqa: UP031
    docs = v1_run("AD_TIFF", tmp, "/tiff_files/", [1, 10, 15], "|u1",
                  {"template": "/%s%s_%5.5d.tif", "filename": filename, "frame_per_point": 1,
                   "join_method": "stack"}, [{"point_number": n} for n in range(3)])
    return docs, data


def test_area_detector_template_with_a_leading_slash_is_read_live_and_replayed(tmp_path):
    docs, data = leading_slash_tiff_run(tmp_path)
    uid = docs.of("start")[0]["uid"]
    for db in store_both_ways(docs, tmp_path, [tmp_path]):
        assert unresolved(db) == []
        assert_events_hold(stored_frames(db, uid, "cam"), by_seq(data[:, np.newaxis]))


@pytest.mark.parametrize("hostile", ["outside-allowed-roots", "dotdot-filename"])
def test_area_detector_template_with_a_leading_slash_stays_confined(tmp_path, hostile):
    data_dir = tmp_path / "data"
    docs, _ = leading_slash_tiff_run(
        data_dir, filename="../../img" if hostile == "dotdot-filename" else "img")
    uid = docs.of("start")[0]["uid"]
    roots = [tmp_path / "elsewhere"] if hostile == "outside-allowed-roots" else [data_dir]
    (tmp_path / "elsewhere").mkdir()
    for db in store_both_ways(docs, tmp_path, roots)[1:]:  # replayed: allowed_roots apply
        rows = unresolved(db)
        assert [seq for _, seq, _, _ in rows] == [1, 2, 3]
        rule = "outside the allowed roots" if hostile == "outside-allowed-roots" else "'..'"
        assert all(rule in reason for _, _, _, reason in rows), rows
        assert stored_frames(db, uid, "cam") == {}


def test_legacy_resource_with_join_method_concat_gives_rows_live_and_replayed(tmp_path):
    """bluesky-tiled-plugins' legacy example: AD_HDF5_SWMR_STREAM, concat, [1, 13, 17]."""
    data = frames(3, (13, 17)).astype("<i8")
    write_h5(tmp_path / "dataset.h5", "/entry/data/data_2", data)
    docs = v1_run("AD_HDF5_SWMR_STREAM", tmp_path, "/dataset.h5", [1, 13, 17], "<i8",
                  {"chunk_shape": [100, 13, 17], "frame_per_point": 1, "join_method": "concat"},
                  [{"dataset": "/entry/data/data_2", "frame": n} for n in range(3)])
    uid = docs.of("start")[0]["uid"]
    for db in store_both_ways(docs, tmp_path, [tmp_path]):
        assert unresolved(db) == []
        assert_events_hold(stored_frames(db, uid, "cam"), by_seq(data))


def test_legacy_multipart_hdf5_resource_is_read_file_by_file(tmp_path):
    """bluesky-tiled-plugins' multipart example: AD_HDF5 with template '%s%s_%6.6d.h5'."""
    directory = tmp_path / "multipart_hdf5"
    directory.mkdir()
    data = frames(3, (13, 17)).astype("<f8")
    for number in range(3):
        write_h5(directory / f"dataset_part_{number:06d}.h5", "/entry/data/data",
                 data[number:number + 1])
    docs = v1_run("AD_HDF5", tmp_path, "/multipart_hdf5/", [1, 13, 17], "<f8",
                  {"chunk_shape": [1, 13, 17], "template": "%s%s_%6.6d.h5",
                   "filename": "/dataset_part", "frame_per_point": 1, "join_method": "concat",
                   "dataset": "/entry/data/data"}, [{"point_number": n} for n in range(3)])
    uid = docs.of("start")[0]["uid"]
    for db in store_both_ways(docs, tmp_path, [tmp_path]):
        assert unresolved(db) == []
        assert_events_hold(stored_frames(db, uid, "cam"), by_seq(data))


# --------------------------------------------------------------------------- next to TiledWriter


SIDE_BY_SIDE = [name for name in CASES if name != "jpeg"] + ["jpeg", "v1-leading-slash",
                                                            "v1-concat"]


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory: pytest.TempPathFactory):
    """Every case written by TiledWriter into a local Tiled server and by the callback.

    Yields ``(theirs, ours, uids)``: two clients (TiledWriter's catalog, our
    ``serve-tiled`` app) and the run uid of each case.
    """
    from bluesky_tiled_plugins import TiledWriter
    from tiled.server import SimpleTiledServer

    from resonance_callback import RunWriterCallback

    from ..tiled_server.conftest import connected, serving

    base = tmp_path_factory.mktemp("tw-parameters")
    files = base / "files"
    files.mkdir()
    theirs = SimpleTiledServer(base / "tiled", readable_storage=[files])
    try:
        with connected(theirs.uri) as writer_client:
            writer = TiledWriter(writer_client)
            uids = {}
            with RunWriterCallback(base / "ours.db", external_timeout=0.3) as callback:
                for name in SIDE_BY_SIDE:
                    directory = files / name
                    directory.mkdir()
                    if name == "v1-leading-slash":
                        docs, _ = leading_slash_tiff_run(directory)
                    elif name == "v1-concat":
                        data = frames(3, (13, 17)).astype("<i8")
                        write_h5(directory / "dataset.h5", "/entry/data/data_2", data)
                        docs = v1_run("AD_HDF5_SWMR_STREAM", directory, "/dataset.h5", [1, 13, 17],
                                      "<i8", {"chunk_shape": [100, 13, 17], "frame_per_point": 1,
                                              "join_method": "concat"},
                                      [{"dataset": "/entry/data/data_2", "frame": n}
                                       for n in range(3)])
                    else:
                        docs = CASES[name](directory).docs
                    uids[name] = docs.of("start")[0]["uid"]
                    for doc_name, doc in docs:
                        callback(doc_name, doc)
                        writer(doc_name, copy.deepcopy(doc))
        with (serving(base / "ours.db", api_key=theirs.api_key) as url,
              connected(theirs.uri) as their_client,
              connected(url, api_key=theirs.api_key) as our_client):
            yield their_client, our_client, uids
    finally:
        theirs.close()


# The v1-concat case: TiledWriter's consolidator deprecates the join_method 'concat' that
# the documents of that case declare (on purpose: such documents exist).
@pytest.mark.filterwarnings(
    "ignore:Consolidator for .* is using join_method='concat':DeprecationWarning:"
    "bluesky_tiled_plugins")
@pytest.mark.parametrize("name", SIDE_BY_SIDE)
def test_read_through_tiled_equals_tiledwriters(both_ways, name):
    theirs, ours, uids = both_ways
    expected = theirs[uids[name]]["primary"].read()
    got = ours[uids[name]]["primary"].read()
    if "time" not in expected.variables:  # no events: TiledWriter has no time coordinate
        got = got.drop_vars("time")
    assert set(got.data_vars) == set(expected.data_vars)
    for variable in expected.variables:
        assert got[variable].shape == expected[variable].shape, variable
        assert got[variable].dtype == expected[variable].dtype, variable
    xarray.testing.assert_equal(got, expected)


@pytest.mark.parametrize(("parameter", "value"), [("slice", ":,:5,:"), ("squeeze", True),
                                                  ("binning", 2)])
def test_resource_parameter_a_builtin_handler_would_not_read_is_recorded_by_name(
        tmp_path, parameter, value):
    docs, _ = leading_slash_tiff_run(tmp_path)
    docs.of("resource")[0]["resource_kwargs"][parameter] = value
    uid = docs.of("start")[0]["uid"]
    for db in store_both_ways(docs, tmp_path, [tmp_path]):
        rows = unresolved(db)
        assert [seq for _, seq, _, _ in rows] == [1, 2, 3]
        assert all(f"'{parameter}'" in reason for _, _, _, reason in rows), rows
        assert stored_frames(db, uid, "cam") == {}
