"""A stream's node and a one-frame request read nothing of the stream's table.

Pinned through the SQL the beamtime is asked (sqlite3's trace callback) while the
stream's node is built and frame ``k`` is read from it (the adapter that answers
``/array/full/...?slice=k``); the ``internal`` table alone reads the events. A field's
frames are listed in at most ``MAX_FRAME_BLOCKS`` blocks, so the node's structure
does not grow with the run.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from resonance_callback import open_beamtime
from resonance_callback.read._stream_layout import MAX_FRAME_BLOCKS
from resonance_callback.tiled_server._nodes import stream_node

from .conftest import API_KEY, connected, serving, stored


def _docs(n: int) -> list[tuple[str, dict[str, Any]]]:
    run, desc = uuid.uuid4().hex, uuid.uuid4().hex
    keys = {"img": {"source": "sim", "dtype": "array", "shape": [5, 4], "dtype_numpy": "<u2"},
            "det": {"source": "sim", "dtype": "number", "shape": []}}
    return [
        ("start", {"uid": run, "time": 0.0}),
        ("descriptor", {"uid": desc, "run_start": run, "time": 0.0, "name": "primary",
                        "data_keys": keys, "object_keys": {}, "configuration": {}}),
        *[("event", {"uid": uuid.uuid4().hex, "descriptor": desc, "time": 1.0 + i,
                     "seq_num": i + 1, "data": {"img": np.full((5, 4), i, "<u2"), "det": i},
                     "timestamps": {"img": 1.0, "det": 1.0}, "filled": {}})
          for i in range(n)],
        ("stop", {"uid": uuid.uuid4().hex, "run_start": run, "time": 9.0,
                  "exit_status": "success", "num_events": {"primary": n}}),
    ]


def _event_reads(issued: list[str]) -> list[str]:
    """The statements that read the stream's events, but for a probe of one end of its key."""
    return [s for s in issued if "FROM events" in s and "LIMIT 1" not in s]


def test_a_frame_read_from_the_streams_node_reads_none_of_its_events(tmp_path) -> None:
    docs = _docs(8)
    db = stored(tmp_path / "bt.db", docs)
    with open_beamtime(db) as bt:
        issued: list[str] = []
        bt._reader._conn.set_trace_callback(issued.append)
        node = stream_node(bt[docs[0][1]["uid"]]["primary"])
        keys = list(node)
        frame = node["img"].read((5, slice(None), slice(None)))
        bt._reader._conn.set_trace_callback(None)
        assert keys == ["internal", "img"]
        np.testing.assert_array_equal(frame, np.full((5, 4), 5))
        assert issued and _event_reads(issued) == []
        bt._reader._conn.set_trace_callback(issued.append)
        assert len(node["internal"].read()) == 8  # the table: read when asked for
        bt._reader._conn.set_trace_callback(None)
        assert _event_reads(issued)


def test_frames_of_a_long_run_are_served_in_a_bounded_number_of_blocks(tmp_path) -> None:
    n = MAX_FRAME_BLOCKS * 2 + 1
    docs = _docs(n)
    db = stored(tmp_path / "bt.db", docs)
    with serving(db) as url, connected(url, api_key=API_KEY) as client:
        img = client[docs[0][1]["uid"]]["primary"].base["img"]
        assert img.shape == (n, 5, 4)
        assert len(img.chunks[0]) <= MAX_FRAME_BLOCKS and sum(img.chunks[0]) == n
        np.testing.assert_array_equal(img[n - 2], np.full((5, 4), n - 2))
        np.testing.assert_array_equal(img[1000:1003][:, 0, 0], [1000, 1001, 1002])
