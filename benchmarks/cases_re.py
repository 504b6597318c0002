"""Variants of the RunEngine-overhead and frames cases (see :mod:`benchmarks.cases`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .measure import Timer, _result, _warm_callback, chunk_bytes

# -- 2. RunEngine overhead ------------------------------------------------------------------


def _run_engine() -> Any:
    from bluesky import RunEngine

    return RunEngine({}, call_returns_result=True)


def _count_with_callback(detector: Any, p: dict[str, Any], tmp: Path,
                         warm: int) -> tuple[Timer, dict[str, float] | None]:
    """Time ``RE(count([detector], num=n))`` with ``p["subscriber"]`` subscribed.

    ``False`` (nothing), ``True`` or ``"callback"`` (the callback, with
    ``p["codec"]`` if given), or ``"msgpack"`` (suitcase-msgpack). The
    subscriber is made and closed inside the timing. Returns the timer and, with
    the callback, the RunEngine thread's seconds inside it: all documents
    (``"all"``, the drain at stop included) and events only (``"event"``).
    """
    from bluesky.plans import count

    from resonance_callback import RunWriterCallback

    RE = _run_engine()  # noqa: N806
    RE(count([detector], num=warm))  # warm up
    subscriber = p["subscriber"]
    if not subscriber:
        with Timer() as t:
            RE(count([detector], num=p["n"]))
        return t, None
    if subscriber == "msgpack":
        from suitcase.msgpack import Serializer

        with Timer() as t:
            serializer = Serializer(str(tmp / "msgpack"))
            RE.subscribe(serializer)
            RE(count([detector], num=p["n"]))
            serializer.close()
        return t, None
    _warm_callback(tmp)
    options = {"codec": p["codec"]} if "codec" in p else {}
    inside = {"all": 0.0, "event": 0.0}
    with Timer() as t:
        cb = RunWriterCallback(tmp / "bt.db", **options)

        def timed(name: str, doc: dict[str, Any]) -> None:
            t0 = time.perf_counter()
            cb(name, doc)
            spent = time.perf_counter() - t0
            inside["all"] += spent
            if name == "event":
                inside["event"] += spent

        RE.subscribe(timed)
        RE(count([detector], num=p["n"]))
        cb.close()
    return t, inside


def re_count(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """``RE(count([det], num=n))``, no subscriber or the callback (closed in the timing)."""
    from ophyd.sim import det

    t, inside = _count_with_callback(det, p, tmp, warm=5)
    extra: dict[str, Any] = {"items": p["n"]}
    if inside is not None:  # the RunEngine thread's own time in the callback, drain included
        extra["caller_us_per_event"] = 1e6 * inside["all"] / p["n"]
        extra["caller_share"] = inside["all"] / t.seconds
    return _result(t, **extra)


def _image_detector(shape: tuple[int, int]) -> Any:
    import itertools

    from ophyd.sim import SynSignal

    from .data import frame_pool

    pool = frame_pool(shape)
    cycle = itertools.cycle(pool)
    # A fresh array on every read, as a real detector's driver would hand over.
    return SynSignal(func=lambda: next(cycle).copy(), name="img", labels={"detectors"})


def re_image(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """``RE(count([img], num=n))``, a 512x512 uint16 detector; callback time on the RE thread.

    ``p["subscriber"]``: nothing, the callback (``p["codec"]``, default the
    library's) or suitcase-msgpack (see :func:`_count_with_callback`).
    """
    t, inside = _count_with_callback(_image_detector(tuple(p["shape"])), p, tmp, warm=3)
    extra: dict[str, Any] = {"items": p["n"]}
    if inside is not None:
        extra["caller_us_per_event"] = 1e6 * inside["event"] / p["n"]
    return _result(t, **extra)


# -- 3. frames -----------------------------------------------------------------------------


def frames_callback(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from resonance_callback import RunWriterCallback

    from .data import frame_docs, frame_pool

    pool = frame_pool(tuple(p["shape"]))
    with RunWriterCallback(tmp / "warm" / "bt.db", codec=p["codec"]) as warm:
        for name, doc in frame_docs(pool, 2):
            warm(name, doc)
    docs = list(frame_docs(pool, p["n"]))
    on_caller = 0.0
    with Timer() as t:
        cb = RunWriterCallback(tmp / "bt.db", codec=p["codec"])
        for name, doc in docs:
            t0 = time.perf_counter()
            cb(name, doc)
            if name == "event":
                on_caller += time.perf_counter() - t0
        cb.close()
    nbytes = p["n"] * pool[0].nbytes
    return _result(t, items=p["n"], bytes=nbytes, stored_bytes=chunk_bytes(tmp / "bt.zarr"),
                   caller_us_per_event=1e6 * on_caller / p["n"])


def frames_bulk(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """One assignment of all frames to a Zarr array with the same chunks, codec and config."""
    import zarr

    from resonance_callback.store._codecs import ARRAY_CONFIG, make_codec

    from .data import frame_pool

    pool = frame_pool(tuple(p["shape"]))
    stack = np.stack([pool[i % len(pool)] for i in range(p["n"])])
    warm = zarr.open_group(str(tmp / "warm.zarr"), mode="w").create_array(
        "img", shape=(2, *stack.shape[1:]), chunks=(1, *stack.shape[1:]), dtype=stack.dtype,
        compressors=make_codec(p["codec"]), fill_value=0, config=ARRAY_CONFIG)
    warm[:] = stack[:2]
    with Timer() as t:
        group = zarr.open_group(str(tmp / "bulk.zarr"), mode="w")
        array = group.create_array("img", shape=stack.shape, chunks=(1, *stack.shape[1:]),
                                   dtype=stack.dtype, compressors=make_codec(p["codec"]),
                                   fill_value=0, config=ARRAY_CONFIG)
        array[:] = stack
    return _result(t, items=p["n"], bytes=stack.nbytes,
                   stored_bytes=chunk_bytes(tmp / "bulk.zarr"))


def frames_raw(p: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The disk bound: the same bytes, uncompressed, written to one file."""
    from .data import frame_pool

    pool = frame_pool(tuple(p["shape"]))
    n = p["n"]
    with Timer() as t:
        with open(tmp / "frames.raw", "wb") as f:
            for i in range(n):
                f.write(memoryview(pool[i % len(pool)]))
    return _result(t, items=n, bytes=n * pool[0].nbytes, stored_bytes=n * pool[0].nbytes)
