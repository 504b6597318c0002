"""Arrays bluesky-nats packs as msgpack lists: read whole, the same values as msgpack's lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import ormsgpack
import pytest
from bluesky.plans import count
from ophyd.sim import SynSignal

from resonance_callback import RunWriterCallback
from resonance_callback._array_types import ArrayTypes
from resonance_callback.serve._numbers import available, read_numbers, warm
from resonance_callback.serve._whole import Numbers, WholeTypes
from resonance_callback.serve._wire import _msgpack, nats_document

from .runs import assert_served_as_local
from .servers import wait_acknowledged

RNG = np.random.default_rng(25)


@pytest.fixture(scope="module", autouse=True)
def compiled() -> None:
    warm()
    assert available()


def packed(value: Any) -> bytes:
    """As bluesky-nats packs: ormsgpack, numpy arrays as msgpack arrays of numbers."""
    return ormsgpack.packb(value, option=ormsgpack.OPT_NAIVE_UTC | ormsgpack.OPT_SERIALIZE_NUMPY)


ARRAYS = {
    "uint16 of mixed widths": RNG.integers(0, 4096, (64, 48)).astype("<u2"),
    "uint16 of every width": RNG.integers(0, 65536, (32, 40)).astype("<u2"),
    "uint8": RNG.integers(0, 256, (20, 30)).astype("u1"),
    "int8": RNG.integers(-128, 128, 700).astype("i1"),
    "int16": RNG.integers(-30000, 30000, (16, 16, 3)).astype("i2"),
    "int32": RNG.integers(-2**31, 2**31, (30, 30)).astype("i4"),
    "int64 to its limits": np.array([-2**63, 2**63 - 1, -1, 0, 127, -33] * 60),
    "uint64 below 2**63": RNG.integers(0, 2**63 - 1, 400, dtype="u8"),
    "float32": RNG.standard_normal((25, 25)).astype("f4"),
    "float64": RNG.standard_normal((4, 10, 10)),
    "float specials": np.array([np.nan, -0.0, np.inf, -np.inf, 5e-324, 1e308] * 50),
    "a constant frame": np.full((40, 40), 461, "<u2"),
    "seven levels": np.ones((2, 2, 2, 2, 2, 2, 8), "<u2"),
}


@pytest.mark.parametrize("case", list(ARRAYS))
def test_an_array_sent_as_lists_is_read_whole_as_numpy_reads_msgpacks_lists(case: str) -> None:
    payload = packed(ARRAYS[case])
    got = read_numbers(payload, 0)
    assert got is not None and got[1] == len(payload)
    got = got[0]
    expected = np.asarray(msgpack.unpackb(payload))
    assert got is not None
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()  # bit for bit: NaNs, -0.0


NOT_READ = {
    "integers mixed with floats": msgpack.packb([1, 2.5] * 300),
    "a string among the numbers": msgpack.packb([[1] * 300, ["a"] * 300]),
    "ragged rows": msgpack.packb([[1] * 300, [2] * 299]),
    "bools": msgpack.packb([True] * 300),
    "nil": msgpack.packb([None] * 300),
    "a uint64 above 2**63 - 1": msgpack.packb([2**64 - 1] * 300),
    "nine levels": packed(np.ones((2,) * 9, "u2")),
    "too few numbers to be worth it": msgpack.packb([7] * 20),
}


@pytest.mark.parametrize("case", list(NOT_READ))
def test_an_array_that_is_not_plain_numbers_is_left_to_msgpack(case: str) -> None:
    payload = NOT_READ[case]
    assert read_numbers(payload, 0) is None


DECLARED = ["<u2", "u1", "i1", "<i2", "<i4", "<i8", "<u8", "<f2", "<f4", "<f8", "|b1", "<c16",
            "<U8"]
VALUES = {
    "small integers": RNG.integers(0, 200, (40, 50)),
    "integers out of uint16's range": RNG.integers(-70000, 70000, (40, 50)),
    "integers beyond float32's precision": np.array([2**24 + 1, 2**53 + 1, 2**62 + 12345] * 700),
    "floats": RNG.standard_normal((40, 50)) * 1e5,
    "floats beyond float32": np.array([1e300, -1e300, np.nan, 1.5] * 500),
}


@pytest.mark.parametrize("declared", DECLARED)
@pytest.mark.parametrize("values", list(VALUES))
def test_arrays_read_whole_are_typed_exactly_as_their_lists_were(declared: str,
                                                                  values: str) -> None:
    data_key = {"source": "sim", "dtype": "array", "shape": [], "dtype_numpy": declared}
    descriptor = {"uid": "d1", "run_start": "r1", "data_keys": {"x": data_key, "y": {
        "source": "sim", "dtype": "array", "shape": []}}}
    event = {"uid": "e1", "descriptor": "d1", "time": 1.0, "seq_num": 1,
             "data": {"x": VALUES[values], "y": VALUES[values]},
             "timestamps": {"x": 1.0, "y": 1.0}}
    page = {**event, "uid": ["e1", "e2"], "data": {k: [v, v] for k, v in event["data"].items()}}
    for name, doc in (("event", event), ("event_page", page)):
        before, whole = ArrayTypes(), WholeTypes()
        before("descriptor", descriptor)
        whole("descriptor", descriptor)
        expected = before(name, _msgpack(packed(doc)))["data"]
        _, read = nats_document(f"bluesky.x.{name}", packed(doc), whole=True)
        holds = read["data"]["x"] if name == "event" else read["data"]["x"][0]
        assert isinstance(holds, Numbers)
        got = whole(name, read)["data"]
        for key in ("x", "y"):
            for a, b in ([(got[key], expected[key])] if name == "event"
                         else zip(got[key], expected[key], strict=True)):
                assert type(a) is type(b)
                if isinstance(b, np.ndarray):
                    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
                else:
                    assert a == b or (np.isnan(a).any() and str(a) == str(b))


def test_an_event_whose_data_is_not_all_numbers_is_read_as_msgpack_reads_it() -> None:
    doc = {"uid": "e", "descriptor": "d", "data": {"x": [[1, "a"]] * 600, "y": list(range(900)),
                                                   "z": [1.5] * 10, "s": "text"},
           "timestamps": {"x": 1.0}, "seq_num": 1, "time": 1.0}
    _, read = nats_document("bluesky.x.event", packed(doc), whole=True)
    assert isinstance(read["data"]["y"], Numbers) and read["data"]["x"] == doc["data"]["x"]
    assert WholeTypes()("event", read) == doc  # no descriptor declares a dtype: the lists


class Frames(SynSignal):
    """Random frames of one dtype (numbers of every msgpack width), declaring it."""

    def __init__(self, name: str, dtype: str, low: float, high: float) -> None:
        self.dtype = dtype
        gen = np.random.default_rng(7)
        super().__init__(name=name, func=lambda: (gen.uniform(low, high, (24, 32)).astype(dtype)))

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out[self.name]["dtype_numpy"] = np.dtype(self.dtype).str
        return out


def test_frames_of_every_width_served_from_lists_equal_the_in_process_ones(
        tmp_path: Path, RE, publisher, nats_server, served) -> None:  # noqa: N803
    service = served()
    local = RunWriterCallback(tmp_path / "local.db")
    RE.subscribe(local)
    RE.subscribe(publisher)
    cams = [Frames("u16", "<u2", 0, 4096), Frames("i16", "<i2", -3000, 3000),
            Frames("i32", "<i4", -2e9, 2e9), Frames("f32", "<f4", -1, 1)]
    RE(count(cams, num=3))
    local.close()
    wait_acknowledged(nats_server.url)
    assert service.terminate() == 0
    expected = assert_served_as_local(tmp_path)
    assert len(expected["image_refs"]) == 12


def test_a_page_whose_first_array_is_small_has_its_other_arrays_typed() -> None:
    descriptor = {"uid": "d1", "run_start": "r1", "data_keys": {"x": {
        "source": "sim", "dtype": "array", "shape": [], "dtype_numpy": "<u2"}}}
    big = RNG.integers(0, 4096, (50, 50))
    page = {"uid": ["e1", "e2"], "descriptor": "d1", "time": [1.0, 2.0], "seq_num": [1, 2],
            "data": {"x": [[1, 2, 3], big]}, "timestamps": {"x": [1.0, 2.0]}}
    before, whole = ArrayTypes(), WholeTypes()
    before("descriptor", descriptor)
    whole("descriptor", descriptor)
    expected = before("event_page", _msgpack(packed(page)))["data"]["x"]
    got = whole("event_page", nats_document("bluesky.x.event_page", packed(page),
                                            whole=True)[1])["data"]["x"]
    assert [(a.dtype, a.tobytes()) for a in got] == [(a.dtype, a.tobytes()) for a in expected]
