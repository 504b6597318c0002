"""Detector-file fields served with TiledWriter's shapes and node metadata (issue 22).

The same runs go at once to TiledWriter (Tiled's own catalog) and to our
callback, from a real RunEngine; each detector-file field's array node must
then be what TiledWriter serves:

- an ophyd-async scalar (``STREAM:``, declared ``[1]``) is an array node of
  one value per event, not a column of ``internal``;
- ``join_method="concat"`` with ``n > 1`` rows per event serves ``N * n`` rows;
- a ``multiplier`` (or a legacy resource's ``frame_per_point``) is the node's
  ``frame_per_point`` metadata, beside the resource's ``spec``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import event_model
import h5py
import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.plans import count
from bluesky_tiled_plugins import TiledWriter

from resonance_callback import RunWriterCallback

from .conftest import API_KEY, connected, serving, tiledwriter_catalog

pytestmark = pytest.mark.filterwarnings("ignore:.*join_method='concat'.*:DeprecationWarning")

ROWS = (4, 3, 2)  # each event of the "rows" key: 4 rows of 3 x 2, joined by concat


class ConcatDetector:
    """Writes one HDF5 file per run: a scalar and ``ROWS`` per event, both ``concat``.

    Readable (its events are empty) and collectable, as ophyd-async detectors
    are; what it wrote is announced in stream_resource and stream_datum documents.
    """

    parent = None

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root
        self.counter = 0
        self.path = root / f"{uuid.uuid4().hex}.h5"
        self.uids = {key: uuid.uuid4().hex for key in self.describe()}

    def describe(self) -> dict[str, Any]:
        return {
            f"{self.name}-sum": {"source": "file", "dtype": "number", "dtype_numpy": "<f8",
                                 "shape": [1], "external": "STREAM:"},
            f"{self.name}-rows": {"source": "file", "dtype": "array", "dtype_numpy": "<f8",
                                  "shape": list(ROWS), "external": "STREAM:"},
        }

    def describe_collect(self) -> dict[str, Any]:
        return self.describe()

    def read(self) -> dict[str, Any]:
        return {}

    def get_index(self) -> int:
        return self.counter

    def collect_asset_docs(self, index: int | None = None) -> Iterator[tuple[str, Any]]:
        index = index or 1
        start, stop = self.counter, self.counter + index
        for key, declared in self.describe().items():
            shape = tuple(declared["shape"])
            parameters: dict[str, Any] = {"dataset": f"/{key}", "join_method": "concat",
                                          "chunk_shape": [100, *shape[1:]]}
            if key.endswith("-sum"):
                parameters["multiplier"] = 1
            with h5py.File(self.path, "a") as f:
                if self.counter == 0:
                    f.create_dataset(f"/{key}", shape=(0, *shape[1:]), dtype="<f8",
                                     maxshape=(None, *shape[1:]), chunks=(100, *shape[1:]))
                    yield "stream_resource", {
                        "uid": self.uids[key], "data_key": key, "parameters": parameters,
                        "uri": self.path.as_uri(), "mimetype": "application/x-hdf5"}
                dataset = f[f"/{key}"]
                dataset.resize((stop * shape[0], *shape[1:]))
                rows = np.arange(start * shape[0], stop * shape[0], dtype="<f8")
                dataset[start * shape[0]:] = (rows.reshape(-1, *[1] * (len(shape) - 1))
                                              * np.ones(shape[1:]))
            yield "stream_datum", {
                "uid": f"{self.uids[key]}/{self.counter}", "stream_resource": self.uids[key],
                "descriptor": "", "indices": {"start": start, "stop": stop},
                "seq_nums": {"start": 0, "stop": 0}}
        self.counter = stop


def collect_plan(det: ConcatDetector) -> Iterator[Any]:
    yield from bps.open_run()
    yield from bps.declare_stream(det, collect=True, name="primary")
    yield from bps.collect(det, return_payload=False, name="primary")
    yield from bps.close_run()


def legacy_documents(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    """A run whose frames come from an area-detector HDF5 resource with ``frame_per_point``."""
    path = directory / "legacy.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data/data", data=np.arange(3 * 5 * 7).reshape(3, 5, 7))
    run = event_model.compose_run()
    desc = run.compose_descriptor(name="primary", data_keys={"img": {
        "source": "file", "dtype": "array", "dtype_numpy": "<i8", "shape": [5, 7],
        "external": "FILESTORE:"}})
    resource = run.compose_resource(spec="AD_HDF5", root=str(directory),
                                    resource_path="legacy.h5",
                                    resource_kwargs={"frame_per_point": 1})
    docs: list[tuple[str, dict[str, Any]]] = [("start", run.start_doc),
                                               ("descriptor", desc.descriptor_doc),
                                               ("resource", resource.resource_doc)]
    for n in range(3):
        datum = resource.compose_datum(datum_kwargs={"point_number": n})
        docs += [("datum", datum), ("event", desc.compose_event(
            data={"img": datum["datum_id"]}, timestamps={"img": 1.0}, seq_num=n + 1))]
    return [*docs, ("stop", run.compose_stop())]


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):
    """The runs written by TiledWriter and by our callback; yields both clients and uids."""
    base = tmp_path_factory.mktemp("tiledwriter-shapes")
    files = base / "files"
    files.mkdir()
    with (tiledwriter_catalog(base / "tiled", [files]) as their_url,
          connected(their_url, api_key=API_KEY) as tiled_client):
        writer = TiledWriter(tiled_client)
        # Not threaded: the detector appends to its HDF5 file while a writer thread could
        # still hold it open for reading (HDF5 refuses that within one process).
        callback = RunWriterCallback(base / "ours.db", threaded=False)
        RE = RunEngine({}, context_managers=[])
        RE.subscribe(writer)
        RE.subscribe(callback)
        uids = {}
        try:
            (uids["count"],) = RE(count([ConcatDetector("det", files)], 3))
            (uids["collect"],) = RE(collect_plan(ConcatDetector("det", files)))
            legacy = legacy_documents(files)
            for name, doc in legacy:
                writer(name, doc)
                callback(name, doc)
            uids["legacy"] = legacy[0][1]["uid"]
        finally:
            callback.close()
        with serving(base / "ours.db") as url, connected(url, api_key=API_KEY) as ours:
            yield tiled_client, ours, uids


def test_ophyd_async_scalar_is_an_array_node_as_in_tiledwriter(both) -> None:
    theirs, ours, uids = both
    ours_stream, their_stream = ours[uids["count"]]["primary"], theirs[uids["count"]]["primary"]
    assert sorted(ours_stream.base) == sorted(their_stream.base)
    assert "det-sum" not in ours_stream.base["internal"].columns
    assert ours_stream["det-sum"].shape == their_stream["det-sum"].shape == (3,)
    np.testing.assert_array_equal(ours_stream["det-sum"].read(), their_stream["det-sum"].read())


def test_concat_rows_of_every_event_are_joined_as_in_tiledwriter(both) -> None:
    theirs, ours, uids = both
    got = ours[uids["count"]]["primary"]["det-rows"]
    expected = theirs[uids["count"]]["primary"]["det-rows"]
    assert got.shape == expected.shape == (3 * ROWS[0], *ROWS[1:])
    np.testing.assert_array_equal(got.read(), expected.read())
    np.testing.assert_array_equal(got.read()[:, 0, 0], np.arange(3 * ROWS[0]))


def test_collected_scalar_and_joined_rows_are_served_as_in_tiledwriter(both) -> None:
    theirs, ours, uids = both
    ours_stream = ours[uids["collect"]]["primary"]
    their_stream = theirs[uids["collect"]]["primary"]
    assert sorted(set(ours_stream.base) - {"internal"}) == sorted(their_stream.base)
    for key in ("det-sum", "det-rows"):
        assert ours_stream[key].shape == their_stream[key].shape, key
        np.testing.assert_array_equal(ours_stream[key].read(), their_stream[key].read())


@pytest.mark.parametrize(("run", "key"), [("legacy", "img"), ("count", "det-sum")])
def test_multiplier_is_the_array_nodes_frame_per_point_as_in_tiledwriter(both, run,
                                                                         key) -> None:
    theirs, ours, uids = both
    got = ours[uids[run]]["primary"][key].metadata
    expected = theirs[uids[run]]["primary"][key].metadata
    assert expected["frame_per_point"] == 1
    assert {k: got.get(k) for k in ("frame_per_point", "spec")} == {
        k: expected.get(k) for k in ("frame_per_point", "spec")}


@pytest.mark.parametrize("run", ["count", "collect"])
def test_chunks_follow_the_chunk_shape_parameter_as_in_tiledwriter(both, run) -> None:
    theirs, ours, uids = both
    got = ours[uids[run]]["primary"]["det-rows"]
    expected = theirs[uids[run]]["primary"]["det-rows"]
    assert got.chunks == expected.chunks == ((got.shape[0],), *((size,) for size in ROWS[1:]))


def test_scalar_node_without_declared_dims_has_none_as_in_tiledwriter(both) -> None:
    theirs, ours, uids = both
    got = ours[uids["count"]]["primary"]["det-sum"].structure().dims
    assert got == theirs[uids["count"]]["primary"]["det-sum"].structure().dims is None
