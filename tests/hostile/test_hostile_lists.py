"""Hostile arrays of numbers for the reader that takes bluesky-nats' lists whole (issue 25).

``serve --nats`` reads an event's arrays of numbers in compiled code
(``resonance_callback.serve._numbers``) instead of through msgpack. Each case is
an event whose array lies: a declared length larger than the message, rows it
does not have, nesting far deeper than an array has, a number cut short, mixed
types, sizes whose product overflows. Each asserts that the message reads
exactly as msgpack reads it (the same document, or the same refusal), in
bounded time and memory; and, through a real nats-server and the real service,
that such messages are recorded or stored and the service goes on.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from resonance_callback.errors import DocumentError
from resonance_callback.serve._numbers import available, warm
from resonance_callback.serve._whole import WholeTypes
from resonance_callback.serve._wire import nats_document
from tests.serve.conftest import nats_server, publisher, served  # noqa: F401 - fixtures
from tests.serve.runs import peak_rss_bytes, publish_run, rejected_in, runs_in
from tests.serve.servers import _with_js, run, wait_acknowledged

MEMORY_BOUND = 1024**3
FIX = bytes(range(0x80))  # one-byte integers


def event(array: bytes, last: bool = False) -> bytes:
    """An event message whose ``data.x`` is ``array`` (raw msgpack), then more keys."""
    head = b"\x86" + b"".join(msgpack.packb(v) for v in (
        "uid", "hostile", "descriptor", "nowhere", "time", 1.0, "timestamps", {"x": 1.0},
        "seq_num", 1))
    data = msgpack.packb("data") + b"\x82" + msgpack.packb("x") + array
    if last:  # the array ends the message (what follows it is cut)
        return head + data
    return head + data + msgpack.packb("y") + msgpack.packb(2)


def rows(count: int, numbers: bytes) -> bytes:
    return b"\xdc" + count.to_bytes(2, "big") + numbers


CASES: dict[str, Callable[[], bytes]] = {
    "2**32 - 1 numbers declared in 5,000 bytes": lambda: event(
        b"\xdd\xff\xff\xff\xff" + FIX * 40),
    "256 rows declared, 10 sent": lambda: event(
        b"\xdc\x01\x00" + rows(256, FIX * 2) * 10, last=True),
    "100,000 levels of nesting": lambda: event(b"\x91" * 100_000 + b"\x01", last=True),
    "nine levels of 2**32 - 1": lambda: event(b"\xdd\xff\xff\xff\xff" * 9 + FIX * 40,
                                              last=True),
    "a number cut short at the end": lambda: event(
        b"\xdc\x01\x00" + b"\xcd\x01\x02" * 255 + b"\xcd\x01", last=True),
    "floats then integers": lambda: event(
        b"\xdc\x02\x00" + b"\xcb" + b"\x3f\xf0" + b"\x00" * 6 + FIX * 4 + b"\x01" * 0x7F),
    "a map among the numbers": lambda: event(b"\xdc\x01\x00" + FIX + b"\x80" + FIX[:-1]),
    "a uint64 above 2**63 - 1": lambda: event(
        b"\xdc\x01\x00" + b"\xcf" + b"\xff" * 8 + FIX * 2 + FIX[:-1]),
    "an ext among the numbers": lambda: event(b"\xdc\x01\x00" + b"\xd4\x05\x01" + FIX * 2
                                              + FIX[:-1]),
    "a row that is a number": lambda: event(
        b"\x92" + rows(256, FIX * 2) + b"\x05" + b"\x00" * 300),
    "ragged rows": lambda: event(b"\x92" + rows(256, FIX * 2) + rows(255, FIX * 2)[:-1]),
    "a row of strings": lambda: event(b"\x92" + rows(256, FIX * 2) + rows(256, b"\xa1a" * 256)),
}


def read(payload: bytes, whole: bool) -> object:
    try:
        name, doc = nats_document("bluesky.h.event", payload, whole=whole)
    except DocumentError as exc:
        return ("refused", str(exc))
    return WholeTypes()(name, doc) if whole else doc


@pytest.fixture(scope="module", autouse=True)
def compiled() -> None:
    warm()
    assert available()


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_array_reads_as_msgpack_reads_it_in_bounded_time_and_memory(
        case: str) -> None:
    payload = CASES[case]()
    tracemalloc.start()
    started = time.monotonic()
    try:
        got = read(payload, whole=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 30
    assert peak < 64 * len(payload) + 10 * 1024**2
    assert got == read(payload, whole=False)


def test_hostile_arrays_on_the_bus_are_recorded_and_the_service_goes_on(
        tmp_path: Path, publisher, nats_server, served) -> None:  # noqa: F811
    service = served()
    first = publish_run(publisher)

    async def hostile(js) -> None:  # noqa: ANN001
        for make in CASES.values():
            await js.publish("bluesky.hostile.event", make())

    run(_with_js(nats_server.url, hostile))
    later = publish_run(publisher)
    wait_acknowledged(nats_server.url)
    assert service.proc.poll() is None, service.text()
    assert peak_rss_bytes(service.proc.pid) < MEMORY_BOUND
    assert service.terminate() == 0
    db = tmp_path / "served.db"
    assert runs_in(db) == {first: ("success", 3), later: ("success", 3)}
    assert len(rejected_in(db)) == len(CASES)  # each kept with its reason, none stored
