"""An array node read from detector files lists those files as its data sources, as
TiledWriter's does (``node.data_sources()``): mimetype, parameters, one asset per file."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from .conftest import API_KEY, connected, serving, stored


def _documents(tmp_path: Path, key: str, shape: list[int], resource: dict[str, Any],
               ranges: list[tuple[int, int]]) -> list[tuple[str, dict[str, Any]]]:
    run, desc = uuid.uuid4().hex, uuid.uuid4().hex
    docs: list[tuple[str, dict[str, Any]]] = [
        ("start", {"uid": run, "time": 0.0}),
        ("descriptor", {"uid": desc, "run_start": run, "time": 0.0, "name": "primary",
                        "data_keys": {key: {"source": "file", "dtype": "array",
                                            "dtype_numpy": "|u1" if "octet" in resource[
                                                "mimetype"] else "<u2",
                                            "shape": shape, "external": "STREAM:"}},
                        "object_keys": {}, "configuration": {}, "hints": {}}),
        ("stream_resource", {"uid": f"{run}-sres", "run_start": run, "data_key": key,
                             **resource}),
    ]
    for n, (start, stop) in enumerate(ranges):
        docs.append(("stream_datum", {"uid": f"{run}-sres/{n}", "stream_resource": f"{run}-sres",
                                      "descriptor": desc, "indices": {"start": start, "stop": stop},
                                      "seq_nums": {"start": start + 1, "stop": stop + 1}}))
    docs.append(("stop", {"uid": uuid.uuid4().hex, "run_start": run, "time": 1.0,
                          "exit_status": "success", "num_events": {"primary": ranges[-1][1]}}))
    return docs


def _served_sources(tmp_path: Path, docs: list[tuple[str, dict[str, Any]]], key: str) -> Any:
    db = stored(tmp_path / "beamtime.db", docs)
    with serving(db) as url, connected(url, api_key=API_KEY) as client:
        node = client[docs[0][1]["uid"]]["primary"].base[key]
        return node.data_sources(), node.read() if node.structure_family == "array" else None


def test_tiff_frames_list_each_file_of_their_sequence_as_an_asset(tmp_path):
    frames = np.arange(2 * 3 * 5 * 7, dtype=np.uint16).reshape(6, 5, 7)
    for n, frame in enumerate(frames):
        tifffile.imwrite(tmp_path / f"{n}.tif", frame, photometric="minisblack")
    parameters = {"template": "{:d}.tif", "chunk_shape": [1, 5, 7]}
    docs = _documents(tmp_path, "image", [3, 5, 7], {
        "mimetype": "multipart/related;type=image/tiff", "uri": f"{tmp_path.as_uri()}/",
        "parameters": parameters}, [(0, 1), (1, 2)])
    sources, values = _served_sources(tmp_path, docs, "image")
    (source,) = sources
    assert source.structure_family == "array"
    assert source.mimetype == "multipart/related;type=image/tiff"
    assert source.parameters == parameters
    assert [a.data_uri for a in source.assets] == [f"{tmp_path.as_uri()}/{n}.tif"
                                                   for n in range(6)]
    np.testing.assert_array_equal(values, frames.reshape(2, 3, 5, 7))


@pytest.mark.parametrize("template", [None, "blob_{:05d}.bin"])
def test_octet_stream_frames_list_their_files_as_a_bytes_data_source(tmp_path, template):
    (tmp_path / "blob.bin").write_bytes(b"0123456789")
    for n in range(2):
        (tmp_path / f"blob_{n:05d}.bin").write_bytes(bytes(range(n, n + 10)))
    uri = f"{tmp_path.as_uri()}/" + ("" if template else "blob.bin")
    docs = _documents(tmp_path, "blob", [1], {
        "mimetype": "application/octet-stream", "uri": uri,
        "parameters": {"template": template} if template else {}},
        [(0, 2)] if template else [(0, 1)])
    (source,), _ = _served_sources(tmp_path, docs, "blob")
    assert source.structure_family == "bytes"
    assert source.mimetype == "application/octet-stream"
    expected = [uri + f"blob_{n:05d}.bin" for n in range(2)] if template else [uri]
    assert [a.data_uri for a in source.assets] == expected



def test_an_ophyd_v1_hdf5_resource_is_the_nodes_one_data_source(tmp_path):
    import h5py

    frames = np.arange(3 * 5 * 7, dtype=np.uint16).reshape(3, 5, 7)
    with h5py.File(tmp_path / "det.h5", "w") as f:
        f.create_dataset("/entry/data/data", data=frames)
    run, desc, res = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    docs: list[tuple[str, dict[str, Any]]] = [
        ("start", {"uid": run, "time": 0.0}),
        ("descriptor", {"uid": desc, "run_start": run, "time": 0.0, "name": "primary",
                        "data_keys": {"img": {"source": "file", "dtype": "array",
                                              "shape": [5, 7], "external": "FILESTORE:"}},
                        "object_keys": {}, "configuration": {}, "hints": {}}),
        ("resource", {"uid": res, "run_start": run, "spec": "AD_HDF5", "root": str(tmp_path),
                      "resource_path": "det.h5", "resource_kwargs": {"frame_per_point": 1},
                      "path_semantics": "posix"})]
    for n in range(3):
        docs.append(("datum", {"datum_id": f"{res}/{n}", "resource": res,
                               "datum_kwargs": {"point_number": n}}))
        docs.append(("event", {"uid": uuid.uuid4().hex, "descriptor": desc, "seq_num": n + 1,
                               "time": float(n), "data": {"img": f"{res}/{n}"},
                               "timestamps": {"img": float(n)}, "filled": {"img": False}}))
    docs.append(("stop", {"uid": uuid.uuid4().hex, "run_start": run, "time": 3.0,
                          "exit_status": "success", "num_events": {"primary": 3}}))
    sources, values = _served_sources(tmp_path, docs, "img")
    (source,) = sources
    assert source.mimetype == "application/x-hdf5"
    assert source.parameters["dataset"] == "/entry/data/data"
    assert not source.properties  # as TiledWriter's, before any validation
    assert [a.data_uri for a in source.assets] == [(tmp_path / "det.h5").as_uri()]
    assert np.asarray(values).reshape(3, 5, 7).tolist() == frames.tolist()
