"""Property: any run composed with event-model comes back from ``run.documents()`` as it went in.

Hypothesis generates start metadata (text with lone surrogates and NUL, big
ints, non-finite floats, nested lists and dicts, keys shaped like the JSON
codec's tags), streams of scalar and string data keys and their events; each
run is fed live to a real callback and read back.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from event_model import compose_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resonance_callback import RunWriterCallback, open_beamtime
from resonance_callback.replay import replay
from tests.hostile._stream import save_jsonl

#: Any character, lone surrogates and NUL included.
ANY_CHAR = st.characters(exclude_categories=())
TEXT = st.text(ANY_CHAR, max_size=12)
KEYS = st.one_of(TEXT, st.sampled_from(["$float", "$bytes", "$dict", "$", "x"]))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
FIELD = st.text(st.characters(exclude_characters="./", exclude_categories=("Cs",)),
                min_size=1, max_size=8)


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and tuples as lists."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@st.composite
def runs(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    """A run composed with event-model: a start, one or two streams, events, a stop."""
    metadata = draw(st.dictionaries(KEYS, VALUES, max_size=5))
    for reserved in ("uid", "time", "scan_id", "plan_name", "sample"):
        metadata.pop(reserved, None)
    bundle = compose_run(metadata=metadata, validate=False)
    docs: list[tuple[str, dict[str, Any]]] = [("start", bundle.start_doc)]
    events = []
    for name in draw(st.lists(st.sampled_from(["primary", "baseline", "x y"]), min_size=1,
                              max_size=2, unique=True)):
        fields = draw(st.lists(FIELD, min_size=1, max_size=3, unique=True))
        kinds = {f: draw(st.sampled_from(["number", "string", "integer"])) for f in fields}
        desc = bundle.compose_descriptor(
            name=name, validate=False,
            data_keys={f: {"dtype": k, "shape": [], "source": f"sim:{f}"}
                       for f, k in kinds.items()})
        docs.append(("descriptor", desc.descriptor_doc))
        strategy = {"number": st.floats(), "string": TEXT,
                    "integer": st.integers(-(2**63), 2**63 - 1)}
        for _ in range(draw(st.integers(0, 4))):
            data = {f: draw(strategy[k]) for f, k in kinds.items()}
            events.append(("event", desc.compose_event(
                data=data, timestamps=dict.fromkeys(data, 1.0), validate=False)))
    docs += events
    docs.append(("stop", bundle.compose_stop(validate=False)))
    return docs


def _assert_documents_come_back(db: Path, sent: list[tuple[str, dict[str, Any]]]) -> None:
    with open_beamtime(db) as bt:
        run = bt[sent[0][1]["uid"]]
        got = list(run.documents())
    assert [n for n, _ in got if n != "event"] == [n for n, _ in sent if n != "event"]
    assert same(got[0][1], sent[0][1])
    assert same(got[-1][1], sent[-1][1])
    stored = {d["uid"]: d for n, d in got if n == "event"}
    for name, doc in sent:
        if name == "event":
            back = stored[doc["uid"]]
            for key in ("data", "timestamps", "seq_num", "time", "descriptor"):
                assert same(back[key], doc[key]), key
    sent_desc = {d["uid"]: d for n, d in sent if n == "descriptor"}
    for name, doc in got:
        if name == "descriptor":
            assert same(doc["data_keys"], sent_desc[doc["uid"]]["data_keys"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_documents_give_back_a_composed_run_fed_live(sent: list[tuple[str, dict[str, Any]]]
                                                     ) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bt.db"
        with RunWriterCallback(db) as callback:
            for name, doc in sent:
                callback(name, doc)
        _assert_documents_come_back(db, sent)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_documents_give_back_a_composed_run_replayed(sent: list[tuple[str, dict[str, Any]]]
                                                     ) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bt.db"
        replay(save_jsonl(Path(tmp) / "run.jsonl", sent), db)
        _assert_documents_come_back(db, sent)
