"""Stream children that are not arrays of numbers, as TiledWriter lays them out: a ragged
field of the events is a ``ragged`` node (not a table column), a field read from
``application/octet-stream`` files a ``bytes`` node listing those files."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from resonance_callback import open_beamtime

from .conftest import API_KEY, connected, serving, stored

RAGGED = [[[1, 2, 3], [4, 5]], [[6], [7, 8]]]


def _write(tmp_path: Path) -> tuple[Path, str]:
    run, desc, res = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02")
    data_keys = {
        "x": {"source": "sim", "dtype": "number", "shape": []},
        "ragged": {"source": "sim", "dtype": "array", "shape": [2, None]},
        "blob": {"source": "file", "dtype": "array", "dtype_numpy": "|u1", "shape": [1],
                 "external": "STREAM:"},
    }
    docs: list[tuple[str, dict[str, Any]]] = [
        ("start", {"uid": run, "time": 0.0}),
        ("descriptor", {"uid": desc, "run_start": run, "time": 0.0, "name": "primary",
                        "data_keys": data_keys, "object_keys": {}, "configuration": {}}),
        *[("event", {"uid": uuid.uuid4().hex, "descriptor": desc, "time": float(n),
                     "seq_num": n, "data": {"x": float(n), "ragged": RAGGED[n - 1]},
                     "timestamps": {"x": 0.0, "ragged": 0.0}, "filled": {}}) for n in (1, 2)],
        ("stream_resource", {"uid": res, "run_start": run, "data_key": "blob", "parameters": {},
                             "uri": (tmp_path / "blob.bin").as_uri(),
                             "mimetype": "application/octet-stream"}),
        ("stream_datum", {"uid": f"{res}/0", "stream_resource": res, "descriptor": desc,
                          "indices": {"start": 0, "stop": 1}, "seq_nums": {"start": 1, "stop": 2}}),
        ("stop", {"uid": uuid.uuid4().hex, "run_start": run, "time": 3.0,
                  "exit_status": "success", "num_events": {"primary": 2}}),
    ]
    db = stored(tmp_path / "beamtime.db", docs)
    return db, run


def test_a_ragged_field_is_a_ragged_node_not_a_table_column(tmp_path):
    db, run = _write(tmp_path)
    with serving(db) as url, connected(url, api_key=API_KEY) as client:
        stream = client[run]["primary"]
        node = stream.base["ragged"]
        assert node.structure_family == "ragged"
        assert node.read().tolist() == RAGGED
        assert "ragged" not in stream.base["internal"].columns
    assert open_beamtime(db)[run]["primary"].read()["ragged"].values.tolist() == RAGGED


def test_a_field_read_from_octet_stream_files_is_a_bytes_node_listing_them(tmp_path):
    db, run = _write(tmp_path)
    with serving(db) as url, connected(url, api_key=API_KEY) as client:
        node = client[run]["primary"].base["blob"]
        assert node.structure_family == "bytes"
        (source,) = node.data_sources()
        assert [a.data_uri for a in source.assets] == [(tmp_path / "blob.bin").as_uri()]
    assert open_beamtime(db)[run].images("blob")[0].tolist() == [0, 1, 2]
