"""The hostile cases: one bad document (or value) each, by class."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tests.hostile._stream import Case, Stream, nested, uid

E = "event"


def _ev(**overrides: Any) -> Any:
    seq_num = overrides.pop("seq_num", 2)
    return lambda s: [(E, s.event(seq_num, **overrides))]


def _x(value: Any) -> Any:
    return lambda s: [(E, s.event(2, x=value))]


def _same_x(expected: Any) -> Any:
    """The middle event is stored and its ``x`` reads back as ``expected``."""
    def check(out: Any, s: Stream) -> None:
        middle = [d for u, d in out.event_docs.items() if u not in (s.first["uid"], s.last["uid"])]
        assert len(middle) == 1
        got = middle[0]["data"]["x"]
        if isinstance(expected, float) and math.isnan(expected):
            assert math.isnan(got)
        else:
            assert got == expected and type(got) is type(expected)
    return check


def _start_kept(key: str, expected: Any) -> Any:
    def check(out: Any, s: Stream) -> None:
        assert out.start is not None and out.start.get(key) == expected
    return check


def _frame_in(stream: str, key: str) -> Any:
    """A second stream whose one frame is stored and reads back."""
    def bad(s: Stream) -> list[Any]:
        d = s.stream(stream, key)
        return [("descriptor", d), (E, s.event_of(d, {key: np.full((2, 2), 5, np.uint16)}))]
    return bad


def _frame_check(stream: str, key: str) -> Any:
    def check(out: Any, s: Stream) -> None:
        from resonance_callback import open_beamtime
        with open_beamtime(out.db) as bt:
            frames = bt[s.start["uid"]].images(key, stream)
            assert len(frames) == 1 and int(np.asarray(frames[0]).sum()) == 20
    return check


def _page(s: Stream, **columns: Any) -> list[Any]:
    a, b = uid(), uid()
    page = {"descriptor": s.descriptor["uid"], "uid": [a, b], "time": [2.0, 2.5],
            "seq_num": [2, 2], "data": {"x": [2.0, 2.5]}, "timestamps": {"x": [1.0, 1.0]},
            "filled": {}, **columns}
    return [("event_page", page)]


def _page_check(stored: int) -> Any:
    def check(out: Any, s: Stream) -> None:
        assert len(out.event_uids) == 2 + stored
    return check


def _stored_once(out: Any, s: Stream) -> None:
    assert out.event_uids.count(s.first["uid"]) == 1
    assert out.frames == 2  # the first and the last event's frames, not a second copy


CASES: list[Case] = [
    # -- order: documents that come when they cannot belong ---------------------------
    Case("event-unknown-descriptor", "order", _ev(descriptor="nope"), "unknown"),
    Case("start-again", "order", lambda s: [("start", s.start)], "already received"),
    Case("descriptor-unknown-run", "order",
         lambda s: [("descriptor", {**s.descriptor, "uid": uid(), "run_start": uid()})],
         "unknown"),
    Case("stop-unknown-run", "order",
         lambda s: [("stop", {**s.stop, "uid": uid(), "run_start": uid()})],
         "unknown"),
    Case("descriptor-again", "order", lambda s: [("descriptor", s.descriptor)],
         "already received"),
    # An identical event stored twice changes nothing (idempotent, as in replay): skipped.
    Case("event-again-identical", "order", lambda s: [(E, s.first)], None,
         check=_stored_once),
    Case("event-again-different", "order", lambda s: [(E, {**s.first, "data": {"x": 99.0}})],
         "already stored"),
    Case("datum-unknown-resource", "order",
         lambda s: [("datum", {"datum_id": "r/1", "resource": uid(), "datum_kwargs": {}})],
         "unknown"),
    Case("unknown-document-name", "order", lambda s: [("bogus", {"uid": uid()})],
         "unknown document name"),
    Case("descriptor-uid-of-earlier-run", "order",
         lambda s: [("descriptor", {**s.descriptor, "uid": s.earlier.descriptor["uid"],
                                    "name": "baseline"})],
         "already", earlier=True),
    Case("stop-of-earlier-run-again", "order", lambda s: [("stop", s.earlier.stop)],
         "already stopped", earlier=True),
    # replay reads a record that is no [name, dict] pair as a damaged line (kept, skipped)
    Case("document-not-a-dict", "order", lambda s: [(E, [1, 2, 3])], "not a dict",
         replay=False),
    # -- identity: uids and references of the wrong kind ------------------------------
    Case("event-descriptor-list", "identity", _ev(descriptor=["a"]), "not a string"),
    Case("event-descriptor-dict", "identity", _ev(descriptor={"a": 1}), "not a string"),
    Case("event-descriptor-null", "identity", _ev(descriptor=None), "not a string"),
    Case("descriptor-run-start-list", "identity",
         lambda s: [("descriptor", {**s.descriptor, "uid": uid(), "run_start": [1]})],
         "not a string"),
    Case("stop-run-start-list", "identity",
         lambda s: [("stop", {**s.stop, "uid": uid(), "run_start": [1]})],
         "not a string"),
    Case("start-uid-list", "identity", lambda s: [("start", {**s.start, "uid": ["u"]})],
         "not a string"),
    Case("event-uid-missing", "identity",
         lambda s: [(E, {k: v for k, v in s.event(2).items() if k != "uid"})], "missing"),
    Case("event-uid-list", "identity", _ev(uid=["u"]), "event"),
    Case("resource-run-start-list", "identity",
         lambda s: [("resource", {"uid": uid(), "run_start": [1], "spec": "NPY_SEQ",
                                  "root": "/", "resource_path": "x",
                                  "resource_kwargs": {}})], "not a string"),
    # -- values: numbers out of range, wrong kinds, too deep, too large ------------------
    Case("seq-num-beyond-64-bits", "values", _ev(seq_num=2**70), "seq_num"),
    Case("seq-num-below-64-bits", "values", _ev(seq_num=-(2**70)), "seq_num"),
    Case("seq-num-string", "values", _ev(seq_num="2"), "seq_num"),
    Case("seq-num-float", "values", _ev(seq_num=2.5), "seq_num"),
    Case("seq-num-null", "values", _ev(seq_num=None), "seq_num"),
    Case("seq-num-bool", "values", _ev(seq_num=True), "seq_num"),
    Case("event-time-nan", "values", _ev(time=math.nan), "time"),
    Case("event-time-string", "values", _ev(time="now"), "time"),
    Case("value-int-beyond-64-bits", "values", _x(2**70), None, check=_same_x(2**70)),
    Case("value-nan", "values", _x(math.nan), None, check=_same_x(math.nan)),
    Case("value-infinity", "values", _x(math.inf), None, check=_same_x(math.inf)),
    Case("value-nested-500", "values", _x(nested(500)), None, check=_same_x(nested(500))),
    Case("value-nested-5000", "values", _x(nested(5000)), "data key 'x'", replay=False),
    Case("value-dict", "values", _x({"a": [1, 2]}), None, check=_same_x({"a": [1, 2]})),
    Case("value-bytes", "values", _x(b"\x00\xff"), None, check=_same_x(b"\x00\xff"),
         replay=False),
    Case("value-object", "values", _x(object()), None, replay=False),
    Case("data-not-a-dict", "values", _ev(data=[1, 2]), "data is a list"),
    Case("data-missing", "values",
         lambda s: [(E, {k: v for k, v in s.event(2).items() if k != "data"})], "missing"),
    Case("timestamps-not-a-dict", "values", _ev(timestamps=[1, 2]), "timestamps"),
    Case("scalar-declared-long-list", "sizes", _x(list(range(5000))), "declares a scalar"),
    Case("scalar-declared-long-array", "sizes", _x(np.arange(5000.0)), "declares a scalar"),
    Case("scalar-declared-2d-array", "sizes", _x(np.ones((50, 50))), "declares a scalar"),
    Case("scalar-declared-nested-lists", "sizes", _x([[1] * 40] * 40), "declares a scalar"),
    Case("value-beyond-16-mib", "sizes", _x("a" * (17 * 1024**2)), "bytes as JSON"),
    # -- encodings ---------------------------------------------------------------------
    Case("surrogate-in-value", "encodings", _x("a\udfffb"), None, check=_same_x("a\udfffb")),
    Case("nul-in-value", "encodings", _x("a\x00b"), None, check=_same_x("a\x00b")),
    Case("astral-in-value", "encodings", _x("\U0001f600"), None, check=_same_x("\U0001f600")),
    Case("surrogate-in-undeclared-key", "encodings",
         lambda s: [(E, s.event(2, data={"x": 2.0, "k\ud800": 1}))], None),
    Case("surrogate-in-event-uid", "encodings", _ev(uid="u\ud800"), "UnicodeEncodeError"),
    Case("surrogate-in-stream-name", "encodings",
         lambda s: [("descriptor", s.stream("s\ud800"))], "UnicodeEncodeError"),
    Case("surrogate-in-start-metadata", "encodings", lambda s: [], None,
         start={"note": "bad \ud800 here"}, check=_start_kept("note", "bad \ud800 here")),
    Case("nul-in-start-metadata", "encodings", lambda s: [], None,
         start={"note": "a\x00b"}, check=_start_kept("note", "a\x00b")),
    # -- JSON tags: user data shaped like the codec's tags ----------------------------
    Case("tag-float-in-value", "json", _x({"$float": "NaN"}), None,
         check=_same_x({"$float": "NaN"})),
    Case("tag-bytes-not-base64", "json", _x({"$bytes": "!!"}), None,
         check=_same_x({"$bytes": "!!"})),
    Case("tag-bytes-base64", "json", _x({"$bytes": "AAE="}), None,
         check=_same_x({"$bytes": "AAE="})),
    Case("tag-dict-in-value", "json", _x({"$dict": [["a", 1]]}), None,
         check=_same_x({"$dict": [["a", 1]]})),
    Case("tag-in-start-metadata", "json", lambda s: [], None, start={"md": {"$bytes": "!!"}},
         check=_start_kept("md", {"$bytes": "!!"})),
    Case("tag-as-timestamps", "json", _ev(data={"x": 2.0}, timestamps={"$float": "NaN"}), None),
    # -- names that are not safe as Zarr paths: frames stored under escaped names -----
    *(Case(f"frame-key-{label}", "names", _frame_in("other", key), None,
           check=_frame_check("other", key))
      for label, key in [("slash", "a/b"), ("dot", "."), ("dotdot", ".."), ("empty", ""),
                         ("nul", "a\x00b"), ("zarr-json", "zarr.json"), ("dunder", "__x"),
                         ("percent", "%2F")]),
    # a frame key that is no UTF-8 cannot name its image_refs row: the event is rejected
    Case("frame-key-surrogate", "names", _frame_in("other", "k\ud800"), "UnicodeEncodeError"),
    *(Case(f"stream-name-{label}", "names", _frame_in(name, "img"), None,
           check=_frame_check(name, "img"))
      for label, name in [("slash", "/"), ("dot", "."), ("dotdot", ".."), ("empty", ""),
                          ("zarr-json", "zarr.json")]),
    # -- shapes: pages, frames and descriptors of the wrong form -------------------------
    Case("event-page-unequal-columns", "shapes",
         lambda s: _page(s, data={"x": [2.0]}), "differ in length"),
    Case("event-page-column-not-list", "shapes",
         lambda s: _page(s, seq_num=5), "not a list"),
    Case("event-page-one-bad-event", "shapes", lambda s: _page(s, seq_num=[2, "x"]),
         "seq_num", check=_page_check(1)),
    Case("frame-wrong-shape", "shapes", _ev(data={"x": 2.0, "img": np.ones((3, 3))}),
         "does not match"),
    Case("frame-1d-for-2d", "shapes", _ev(data={"x": 2.0, "img": np.ones(4)}),
         "does not match"),
    Case("descriptor-data-keys-list", "shapes",
         lambda s: [("descriptor", {**s.stream(), "data_keys": [1]})], "data_keys"),
    Case("descriptor-data-key-not-dict", "shapes",
         lambda s: [("descriptor", {**s.stream(), "data_keys": {"k": 5}})], None),
    Case("descriptor-name-list", "shapes",
         lambda s: [("descriptor", {**s.stream(), "name": ["a"]})], "name is a list"),
    # -- odd starts: the run is stored all the same -------------------------------------
    Case("start-no-plan-name", "starts", lambda s: [], None, start={"plan_name": ...}),
    Case("start-plan-name-list", "starts", lambda s: [], None, start={"plan_name": ["a"]},
         check=_start_kept("plan_name", ["a"])),
    Case("start-time-nan", "starts", lambda s: [], None, start={"time": math.nan}),
    Case("start-time-string", "starts", lambda s: [], None, start={"time": "noon"},
         check=_start_kept("time", "noon")),
    Case("start-sample-list", "starts", lambda s: [], None, start={"sample": [1, 2]}),
    # metadata the encoder cannot take is left out (recorded): the run is stored
    Case("start-metadata-nested-5000", "starts", lambda s: [], "left out", replay=False,
         start={"md": nested(5000)}),
    Case("start-scan-id-string", "starts", lambda s: [], None, start={"scan_id": "7"},
         check=_start_kept("scan_id", "7")),
    Case("start-metadata-nested-500", "starts", lambda s: [], None,
         start={"md": nested(500)}, check=_start_kept("md", nested(500))),
]
