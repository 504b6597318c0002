"""A ragged or otherwise unstorable field costs only itself; the event's other fields are stored.

A data key whose declared shape has a dimension of unknown size (``[2, null]``, as
bluesky-tiled-plugins' ``internal_events.json`` declares one) holds a ragged or
variable-length array: each event's value is stored as it came, whatever its shape,
live and through replay. A value that cannot be stored at all (the encoder refuses
it, or it holds itself) is left out alone and recorded with its reason naming the key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bluesky.plans as bp
import event_model
import numpy as np
import pytest
from ophyd.sim import SynSignal

from resonance_callback import RunWriterCallback, jsoncodec, open_beamtime, replay

from ..bounded import run_bounded
from ..conftest import sql

Docs = list[tuple[str, dict[str, Any]]]
RAGGED = {"dtype": "array", "shape": [2, None], "source": "sim"}
NUMBER = {"dtype": "number", "shape": [], "source": "sim"}


def _run(values: list[Any], key: dict[str, Any] = RAGGED) -> Docs:
    bundle = event_model.compose_run()
    desc = bundle.compose_descriptor(name="primary", data_keys={"r": key, "x": NUMBER})
    docs: Docs = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    for seq, value in enumerate(values, start=1):
        docs.append(("event", desc.compose_event(
            data={"r": value, "x": float(seq)}, timestamps={"r": 1.0, "x": 1.0},
            seq_num=seq, validate=False)))
    docs.append(("stop", bundle.compose_stop()))
    return docs


def _store(docs: Docs, db: Path, how: str) -> None:
    if how == "live":
        with RunWriterCallback(db) as callback:
            for name, doc in docs:
                callback(name, doc)
    else:
        saved = db.with_suffix(".jsonl")
        saved.write_text("".join(json.dumps([n, d], default=np.ndarray.tolist) + "\n"
                                 for n, d in docs))
        replay(saved, db, raise_on_damage=False)


def _events(db: Path) -> list[dict[str, Any]]:
    return [jsoncodec.loads(d) for (d,) in sql(db, "SELECT data FROM events ORDER BY seq_num")]


def _rejected(db: Path) -> list[str]:
    return [r for (r,) in sql(db, "SELECT reason FROM rejected_documents ORDER BY id")]


# The first value is regular (2 x 2): it must not fix the shape of the later ones.
VALUES = [[[1, 2], [3, 4]], [[1, 2, 3], [4]], [[], [5]], [[6], [7, 8, 9, 10]]]


@pytest.mark.parametrize("how", ["live", "replay"])
def test_a_ragged_key_keeps_every_events_value_as_it_came(tmp_path: Path, how: str) -> None:
    db = tmp_path / "bt.db"
    _store(_run(VALUES), db, how)
    assert _events(db) == [{"r": v, "x": float(i)} for i, v in enumerate(VALUES, start=1)]
    assert _rejected(db) == []
    assert sql(db, "SELECT count(*) FROM image_refs") == [(0,)]


@pytest.mark.parametrize("how", ["live", "replay"])
def test_a_ragged_key_of_arrays_of_varying_shape_keeps_them_all(tmp_path: Path, how: str) -> None:
    arrays = [np.arange(6.0).reshape(2, 3), np.arange(8.0).reshape(2, 4), np.ones((2, 1))]
    db = tmp_path / "bt.db"
    _store(_run(arrays), db, how)
    assert _events(db) == [{"r": a.tolist(), "x": float(i)} for i, a in enumerate(arrays, 1)]
    assert _rejected(db) == []


def test_a_ragged_key_reads_back_with_the_events_other_fields(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    _store(_run(VALUES), db, "live")
    with open_beamtime(db) as bt:
        table = bt[-1].table()
    assert list(table["x"]) == [1.0, 2.0, 3.0, 4.0]
    assert [list(map(list, v)) for v in table["r"]] == VALUES


def test_a_ragged_key_from_a_runengine_device_is_stored_every_event(RE, tmp_path: Path) -> None:  # noqa: N803
    calls = []

    class Ragged(SynSignal):
        def describe(self) -> dict[str, Any]:
            out = super().describe()
            out[self.name].update(dtype="array", shape=[2, None])
            return out

    def ragged_value() -> list[list[int]]:
        calls.append(None)
        n = len(calls) % 3 + 1  # 2 x 1, 2 x 2, 2 x 3, ... then ragged rows
        return [list(range(n)), list(range(n + len(calls) % 2))]

    emitted: list[dict[str, Any]] = []
    db = tmp_path / "bt.db"
    with RunWriterCallback(db) as callback:
        RE(bp.count([Ragged(func=ragged_value, name="r"), SynSignal(func=lambda: 1.5, name="x")],
                    num=4), [callback, lambda n, d: emitted.append(d) if n == "event" else None])
    sent = [e["data"]["r"] for e in emitted]
    assert len({len(row) for value in sent for row in value}) > 1  # the shapes do vary
    assert [e["r"] for e in _events(db)] == sent
    assert [e["x"] for e in _events(db)] == [1.5] * 4
    assert _rejected(db) == []


def test_a_ragged_value_where_a_fixed_shape_is_declared_costs_only_that_field(
        tmp_path: Path) -> None:
    key = {"dtype": "array", "shape": [2, 2], "source": "sim"}
    db = tmp_path / "bt.db"
    _store(_run([[[1, 2], [3, 4]], [[1, 2, 3], [4]]], key), db, "live")
    assert [e["x"] for e in _events(db)] == [1.0, 2.0]
    [reason] = _rejected(db)
    assert "key 'r'" in reason


class _NoRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


UNENCODABLE = {
    "an object whose repr raises": _NoRepr(),
    "a dict with tuple keys": {(1, 2): 3},
}


@pytest.mark.parametrize("name", list(UNENCODABLE))
def test_a_value_the_encoder_refuses_costs_only_itself(tmp_path: Path, name: str) -> None:
    db = tmp_path / "bt.db"
    _store(_run([UNENCODABLE[name]], NUMBER), db, "live")
    assert _events(db) == [{"x": 1.0}]
    [reason] = _rejected(db)
    assert "data key 'r'" in reason and "the rest of the event is stored" in reason


def test_an_unencodable_value_beside_a_frame_costs_only_itself(tmp_path: Path) -> None:
    bundle = event_model.compose_run()
    desc = bundle.compose_descriptor(name="primary", data_keys={
        "img": {"dtype": "array", "shape": [3, 4], "source": "sim"}, "r": NUMBER, "x": NUMBER})
    event = desc.compose_event(data={"img": np.ones((3, 4)), "r": _NoRepr(), "x": 2.0},
                               timestamps={"img": 1.0, "r": 1.0, "x": 1.0}, seq_num=1,
                               validate=False)
    db = tmp_path / "bt.db"
    _store([("start", bundle.start_doc), ("descriptor", desc.descriptor_doc), ("event", event),
            ("stop", bundle.compose_stop())], db, "live")
    assert _events(db) == [{"x": 2.0}]
    assert sql(db, "SELECT field_name FROM image_refs") == [("img",)]
    [reason] = _rejected(db)
    assert "data key 'r'" in reason


def _store_a_list_holding_itself(db: str) -> list[dict[str, Any]]:
    looped: list[Any] = []
    looped.append(looped)
    _store(_run([looped], NUMBER), Path(db), "live")
    return _events(Path(db))


def test_a_list_holding_itself_costs_only_itself_and_does_not_hang(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    events, _peak = run_bounded(_store_a_list_holding_itself, str(db), seconds=120)
    assert events == [{"x": 1.0}]
    [reason] = _rejected(db)
    assert "key 'r'" in reason
