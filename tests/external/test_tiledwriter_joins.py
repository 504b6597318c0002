"""A stream read back in TiledWriter's shapes, live and replayed (issue 22).

What each event holds is pinned by ``test_tiledwriter_parameters``; this pins
how the read side then serves a detector-file field, as TiledWriter's array
node of it: ``join_method="concat"`` with ``n > 1`` rows per event joins the
events' rows (``N * n``), chunks follow ``chunk_shape``, an ophyd-async scalar
is an array field (not a column of the event table), and ``multiplier`` /
``frame_per_point`` becomes the field's ``frame_per_point`` metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from resonance_callback.read import open_beamtime

from .test_confinement import store_both_ways
from .test_detector_files import unresolved
from .test_tiledwriter_parameters import HDF5, compose, frames, write_h5


def test_concat_rows_of_each_event_are_read_joined_live_and_replayed(tmp_path: Path) -> None:
    data = frames(12, (4, 5))  # 3 events of 4 rows
    uri = write_h5(tmp_path / "rows.h5", "/entry/data/data", data)
    docs = compose("cam", {"shape": [4, 4, 5], "dtype_numpy": "<u2"}, HDF5, uri,
                   {"dataset": "/entry/data/data", "chunk_shape": [8, 4, 5],
                    "join_method": "concat"}, [(0, 1), (1, 3)])
    for db in store_both_ways(docs, tmp_path, [tmp_path]):
        assert unresolved(db) == []
        stream = open_beamtime(db)[docs.of("start")[0]["uid"]]["primary"]
        values = stream.array("cam")
        assert values.shape == (12, 4, 5)
        assert values.chunks == ((8, 4), (4,), (5,))
        np.testing.assert_array_equal(np.asarray(values), data)
        assert stream.dims()["cam"] == ("time", "cam_dim1", "cam_dim2")


def test_a_leading_one_under_concat_is_not_joined(tmp_path: Path) -> None:
    data = frames(3, (4, 5))
    uri = write_h5(tmp_path / "one.h5", "/entry/data/data", data)
    docs = compose("cam", {"shape": [1, 4, 5], "dtype_numpy": "<u2"}, HDF5, uri,
                   {"dataset": "/entry/data/data", "join_method": "concat"}, [(0, 3)])
    (db, _) = store_both_ways(docs, tmp_path, [tmp_path])
    stream = open_beamtime(db)[docs.of("start")[0]["uid"]]["primary"]
    np.testing.assert_array_equal(np.asarray(stream.array("cam")), data)


def test_ophyd_async_scalar_is_an_array_field_not_a_table_column(tmp_path: Path) -> None:
    data = np.arange(3, dtype="<f8")
    uri = write_h5(tmp_path / "sum.h5", "/sum", data)
    docs = compose("sum", {"shape": [1], "dtype": "number", "dtype_numpy": "<f8"}, HDF5, uri,
                   {"dataset": "/sum", "join_method": "concat"}, [(0, 3)])
    for db in store_both_ways(docs, tmp_path, [tmp_path]):
        stream = open_beamtime(db)[docs.of("start")[0]["uid"]]["primary"]
        assert "sum" not in stream.internal_table().columns
        assert stream.dims()["sum"] == ("time",)
        np.testing.assert_array_equal(stream.array("sum"), data)


def test_multiplier_is_the_fields_frame_per_point_live_and_replayed(tmp_path: Path) -> None:
    data = frames(4, (4, 5))
    uri = write_h5(tmp_path / "mult.h5", "/entry/data/data", data)
    docs = compose("cam", {"shape": [4, 5], "dtype_numpy": "<u2"}, HDF5, uri,
                   {"dataset": "/entry/data/data", "multiplier": 2}, [(0, 2)])
    for db in store_both_ways(docs, tmp_path, [tmp_path]):
        stream = open_beamtime(db)[docs.of("start")[0]["uid"]]["primary"]
        assert stream.field_metadata("cam") == {"frame_per_point": 2}
        assert stream.array("cam").shape == (2, 2, 4, 5)


def test_chunk_shape_of_ones_over_large_frames_keeps_one_block_per_frame(tmp_path: Path) -> None:
    data = frames(4, (200, 300))  # chunk_shape [1, 1, 1]: 240 000 blocks; kept at 4
    uri = write_h5(tmp_path / "ones.h5", "/entry/data/data", data)
    docs = compose("cam", {"shape": [200, 300], "dtype_numpy": "<u2"}, HDF5, uri,
                   {"dataset": "/entry/data/data", "chunk_shape": [1, 1, 1]}, [(0, 4)])
    (db, _) = store_both_ways(docs, tmp_path, [tmp_path])
    values = open_beamtime(db)[docs.of("start")[0]["uid"]]["primary"].array("cam")
    assert values.chunks == ((1, 1, 1, 1), (200,), (300,))
