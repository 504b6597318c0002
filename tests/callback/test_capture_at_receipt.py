"""What is stored is what the RunEngine emitted when we received it (issue 22).

The RunEngine hands every subscriber the same dicts; a subscriber registered
after ours that changes a document in place must not change what we store.
Each test subscribes, in this order: a recorder keeping a deep copy of each
document as emitted, our callback, and a subscriber that mutates every document
in place after us.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import bluesky.plans as bp
import numpy as np
from ophyd.sim import SynGauss, SynSignal, SynSignalWithRegistry, motor

from resonance_callback import RunWriterCallback, jsoncodec

from ..conftest import sql


def _as_stored(doc: Any) -> Any:
    """A document as the store keeps it (numpy values as lists)."""
    return jsoncodec.loads(jsoncodec.dumps(doc))


def _mutate(name: str, doc: dict[str, Any]) -> None:
    """Change every document in place, as a careless later subscriber might."""
    if name == "start":
        doc["purpose"] = "changed after us"
        doc["nested"]["values"].append(99)
        doc["nested"]["note"] = "changed"
        doc["plan_name"] = "not_the_plan"
    elif name == "descriptor":
        for key in doc["data_keys"].values():
            key["units"] = "changed"
        doc["configuration"].clear()
    elif name == "event":
        for key, value in doc["data"].items():
            if isinstance(value, list):
                value[0] = -99.0
            elif isinstance(value, np.ndarray):
                value[...] = -99
            elif isinstance(value, float):
                doc["data"][key] = -99.0
        for key in doc["timestamps"]:
            doc["timestamps"][key] = -1.0
        doc["data"]["ghost"] = 1.0
        doc["seq_num"] += 1000
    elif name == "stop":
        doc["reason"] = "changed after us"
        doc["num_events"]["primary"] = 999
        doc["exit_status"] = "fail"
    elif name == "resource":
        doc["root"] = "/nowhere"
    elif name == "datum":
        doc["datum_kwargs"]["index"] = 10**6


def _record_and_mutate(RE, plan, db: Path, **md: Any) -> list[tuple[str, dict[str, Any]]]:  # noqa: N803
    emitted: list[tuple[str, dict[str, Any]]] = []
    with RunWriterCallback(db) as callback:
        tokens = [RE.subscribe(lambda n, d: emitted.append((n, copy.deepcopy(d)))),
                  RE.subscribe(callback), RE.subscribe(_mutate)]
        try:
            RE(plan, **md)
        finally:
            for token in tokens:
                RE.unsubscribe(token)
    return emitted


def _stored_run(db: Path) -> dict[str, Any]:
    [(metadata, stop)] = sql(db, "SELECT metadata, stop_document FROM runs")
    streams = sql(db, "SELECT document FROM streams ORDER BY rowid")
    events = sql(db, "SELECT uid, seq_num, data, timestamps FROM events ORDER BY rowid")
    return {"start": jsoncodec.loads(metadata), "stop": jsoncodec.loads(stop),
            "descriptors": [jsoncodec.loads(d) for (d,) in streams],
            "events": [(uid, seq, jsoncodec.loads(d), jsoncodec.loads(t))
                       for uid, seq, d, t in events]}


def _scalar_and_short_arrays(tmp_path: Path):  # noqa: ANN202
    det = SynGauss("det", motor, "motor", center=0, Imax=1, sigma=1)
    vec = SynSignal(func=lambda: [1.0, 2.0, 3.0], name="vec")
    arr = SynSignal(func=lambda: np.array([4.0, 5.0]), name="arr")
    return [det, vec, arr]


def test_a_start_changed_in_place_by_a_later_subscriber_is_stored_as_emitted(
        RE, tmp_path: Path) -> None:  # noqa: N803
    db = tmp_path / "bt.db"
    emitted = _record_and_mutate(RE, bp.count(_scalar_and_short_arrays(tmp_path), num=2), db,
                                 nested={"values": [1, 2], "note": "as emitted"})
    stored = _stored_run(db)
    [start] = [d for n, d in emitted if n == "start"]
    assert stored["start"] == _as_stored(start)
    assert sql(db, "SELECT plan_name FROM runs") == [("count",)]


def test_a_descriptor_changed_in_place_by_a_later_subscriber_is_stored_as_emitted(
        RE, tmp_path: Path) -> None:  # noqa: N803
    db = tmp_path / "bt.db"
    emitted = _record_and_mutate(RE, bp.count(_scalar_and_short_arrays(tmp_path), num=2), db,
                                 nested={"values": [1], "note": ""})
    stored = _stored_run(db)
    assert stored["descriptors"] == [_as_stored(d) for n, d in emitted if n == "descriptor"]


def test_events_changed_in_place_by_a_later_subscriber_are_stored_as_emitted(
        RE, tmp_path: Path) -> None:  # noqa: N803
    db = tmp_path / "bt.db"
    emitted = _record_and_mutate(RE, bp.count(_scalar_and_short_arrays(tmp_path), num=3), db,
                                 nested={"values": [1], "note": ""})
    events = [d for n, d in emitted if n == "event"]
    expected = [(e["uid"], e["seq_num"], _as_stored(e["data"]), e["timestamps"])
                for e in events]
    assert _stored_run(db)["events"] == expected
    assert [d["vec"] for _, _, d, _ in expected] == [[1.0, 2.0, 3.0]] * 3
    assert [d["arr"] for _, _, d, _ in expected] == [[4.0, 5.0]] * 3


def test_a_stop_changed_in_place_by_a_later_subscriber_is_stored_as_emitted(
        RE, tmp_path: Path) -> None:  # noqa: N803
    db = tmp_path / "bt.db"
    emitted = _record_and_mutate(RE, bp.count(_scalar_and_short_arrays(tmp_path), num=2), db,
                                 nested={"values": [1], "note": ""})
    [stop] = [d for n, d in emitted if n == "stop"]
    assert _stored_run(db)["stop"] == _as_stored(stop)
    assert sql(db, "SELECT exit_status, reason FROM runs") == [("success", None)]


def test_resources_and_datums_changed_in_place_by_a_later_subscriber_still_fill_frames(
        RE, tmp_path: Path) -> None:  # noqa: N803
    db = tmp_path / "bt.db"
    (tmp_path / "npy").mkdir()
    img = SynSignalWithRegistry(func=lambda: np.full((3, 4), 7, dtype="u2"), name="img",
                                save_path=str(tmp_path / "npy"))
    emitted = _record_and_mutate(RE, bp.count([img], num=2), db,
                                 nested={"values": [1], "note": ""})
    kept = [jsoncodec.loads(d) for (d,) in sql(
        db, "SELECT document FROM external_documents ORDER BY ordinal")]
    assert kept == [_as_stored(d) for n, d in emitted if n in ("resource", "datum")]
    assert sql(db, "SELECT count(*) FROM unresolved_frames") == [(0,)]
    assert sql(db, "SELECT count(*) FROM image_refs") == [(2,)]
