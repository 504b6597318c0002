"""Which array fields of the events stay in the ``internal`` table: TiledWriter's rule
(a fixed shape of at most 16 numbers); larger ones are array nodes of their own."""

from __future__ import annotations

import uuid
from typing import Any

import dask
import numpy as np

from .conftest import API_KEY, connected, serving, stored


def _key(shape: list[int]) -> dict[str, Any]:
    return {"source": "sim", "dtype": "array", "dtype_numpy": "<f8", "shape": shape}


def test_small_numeric_array_of_the_events_stays_in_the_internal_table(tmp_path):
    run, desc = uuid.uuid4().hex, uuid.uuid4().hex
    small = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    large = np.arange(20.0).reshape(4, 5)
    docs = [
        ("start", {"uid": run, "time": 0.0}),
        ("descriptor", {"uid": desc, "run_start": run, "time": 0.0, "name": "primary",
                        "data_keys": {"small": _key([2, 3]), "large": _key([4, 5])},
                        "object_keys": {}, "configuration": {}}),
        *[("event", {"uid": uuid.uuid4().hex, "descriptor": desc, "time": float(n),
                     "seq_num": n, "data": {"small": small, "large": large.tolist()},
                     "timestamps": {"small": 0.0, "large": 0.0}, "filled": {}})
          for n in (1, 2)],
        ("stop", {"uid": uuid.uuid4().hex, "run_start": run, "time": 3.0,
                  "exit_status": "success", "num_events": {"primary": 2}}),
    ]
    db = stored(tmp_path / "beamtime.db", docs)
    with serving(db) as url, connected(url, api_key=API_KEY) as client:
        stream = client[run]["primary"]
        assert set(stream.base) == {"internal", "large"}
        # Tiled's client reads a column of lists through dask, which makes them text
        # unless told not to (so it reads TiledWriter's tables too)
        with dask.config.set({"dataframe.convert-string": False}):
            table = stream.base["internal"].read()
            dataset = stream.read()
        assert [np.stack(list(v)).tolist() for v in table["small"]] == [small] * 2
        assert [np.stack(list(v)).tolist() for v in dataset["small"].values] == [small] * 2
        np.testing.assert_array_equal(stream.base["large"].read(), np.stack([large, large]))
        column = stream["small"]  # the column alone, as Tiled's composite client reads it
        assert column.shape == (2, 2, 3)
        np.testing.assert_array_equal(column.read(), np.array([small, small]))
