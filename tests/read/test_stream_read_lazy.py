"""``stream.read()`` built from the descriptors: one frame read through xarray reads no table.

Pinned through the SQL the beamtime is asked (sqlite3's trace callback): building the
Dataset and reading frame ``k`` reads nothing of the stream's events but the two ends
of its key; a column is read, that field alone, only when its values are computed.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from resonance_callback import DataLookupError, RunWriterCallback, open_beamtime

N = 12


def _docs(keys: dict[str, Any], values: Any, n: int = N) -> list[tuple[str, dict[str, Any]]]:
    run, desc = uuid.uuid4().hex, uuid.uuid4().hex
    return [
        ("start", {"uid": run, "time": 0.0, "plan_name": "count", "scan_id": 1}),
        ("descriptor", {"uid": desc, "run_start": run, "time": 0.0, "name": "primary",
                        "data_keys": keys, "object_keys": {}, "configuration": {}}),
        *[("event", {"uid": uuid.uuid4().hex, "descriptor": desc, "time": 10.0 + i,
                     "seq_num": i + 1, "data": values(i),
                     "timestamps": {k: 10.0 + i for k in keys}, "filled": {}})
          for i in range(n)],
        ("stop", {"uid": uuid.uuid4().hex, "run_start": run, "time": 99.0,
                  "exit_status": "success", "num_events": {"primary": n}}),
    ]


FRAMES = {"img": {"source": "sim", "dtype": "array", "shape": [3, 4], "dtype_numpy": "<u2"},
          "det": {"source": "sim", "dtype": "number", "shape": []},
          "count": {"source": "sim", "dtype": "integer", "shape": []}}


def _frame(i: int) -> np.ndarray:
    return np.full((3, 4), i, dtype="<u2")


def _write(db: Path, docs: list[tuple[str, dict[str, Any]]]) -> str:
    with RunWriterCallback(db, threaded=False) as callback:
        for name, doc in docs:
            callback(name, doc)
    return str(docs[0][1]["uid"])


@pytest.fixture
def frames_run(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "bt.db"
    uid = _write(db, _docs(FRAMES, lambda i: {"img": _frame(i), "det": i * 0.5, "count": i}))
    return db, uid


def _issued(bt: Any, action: Any) -> tuple[Any, list[str]]:
    issued: list[str] = []
    bt._reader._conn.set_trace_callback(issued.append)
    try:
        return action(), issued
    finally:
        bt._reader._conn.set_trace_callback(None)


def _event_reads(issued: list[str]) -> list[str]:
    """The statements that read the stream's events, but for a probe of one end of its key."""
    return [s for s in issued if "FROM events" in s and "LIMIT 1" not in s]


def test_reading_one_frame_through_read_reads_none_of_the_streams_events(frames_run) -> None:
    db, uid = frames_run
    with open_beamtime(db) as bt:
        frame, issued = _issued(bt, lambda: bt[uid]["primary"].read()["img"][7].values)
    np.testing.assert_array_equal(frame, _frame(7))
    assert issued and _event_reads(issued) == []


def test_a_declared_column_is_read_alone_and_only_when_computed(frames_run) -> None:
    db, uid = frames_run
    with open_beamtime(db) as bt:
        ds, built = _issued(bt, lambda: bt[uid]["primary"].read())
        det, issued = _issued(bt, lambda: ds["det"].values)
        count = ds["count"].values
        table = bt[uid].table()
    assert _event_reads(built) == []
    (read,) = _event_reads(issued)
    assert "det" in read and "count" not in read and "e.data," not in read
    assert det.dtype == np.float64 and count.dtype == np.int64  # as TiledWriter types them
    np.testing.assert_array_equal(det, table["det"].to_numpy())
    np.testing.assert_array_equal(count, table["count"].to_numpy())


def test_time_is_a_coordinate_without_an_index_read_when_computed(frames_run) -> None:
    db, uid = frames_run
    with open_beamtime(db) as bt:
        ds = bt[uid]["primary"].read()
        assert "time" in ds.coords and "time" not in ds.indexes
        np.testing.assert_array_equal(ds["time"].values, bt[uid].table()["time"].to_numpy())
        assert len(ds.to_dataframe()) == N * 12


def test_a_value_its_declared_dtype_cannot_hold_raises_naming_the_field(tmp_path) -> None:
    db = tmp_path / "bt.db"
    keys = {"count": {"source": "sim", "dtype": "integer", "shape": []}}
    uid = _write(db, _docs(keys, lambda i: {"count": i + 0.5 if i == 3 else i}))
    with open_beamtime(db) as bt:
        ds = bt[uid]["primary"].read()
        with pytest.raises(DataLookupError, match="'count'.*run.table"):
            ds["count"].values  # noqa: B018
        assert bt[uid].table()["count"].tolist()[3] == 3.5  # stored as it came


def test_a_stream_its_declarations_cannot_decide_is_read_from_its_values(tmp_path) -> None:
    db = tmp_path / "bt.db"
    keys = {"name": {"source": "sim", "dtype": "string", "shape": []},
            "det": {"source": "sim", "dtype": "number", "shape": []}}
    uid = _write(db, _docs(keys, lambda i: {"name": f"s{i}", "det": i}))
    with open_beamtime(db) as bt:
        stream = bt[uid]["primary"]
        assert stream.declared_columns is None
        ds = stream.read()
        assert ds["name"].dtype.kind == "U" and ds["name"].values[2] == "s2"
        assert ds["det"].dtype == np.int64  # from the values, as before
