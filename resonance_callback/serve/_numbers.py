"""A msgpack array of numbers read whole, in compiled code, not one Python number at a time.

bluesky-nats packs a numpy array as a msgpack array (of arrays, one level per
dimension) of numbers: a 256x256 ``uint16`` frame is 65,536 numbers, each with
its own marker byte and the smallest width its value fits (``0x00``-``0x7f`` and
``0xe0``-``0xff`` one byte, ``0xcc``/``0xd0`` two, ``0xcd``/``0xd1`` three, ...),
floats ``0xca`` (float32) or ``0xcb`` (float64). msgpack makes a Python number of
each and numpy reads them back one by one (about 3 ms for such a frame).
:func:`read_numbers` reads such an array where it starts in the message, in
one pass of a function compiled by numba (without the GIL), into the array
numpy would make of what msgpack gives: ``int64`` for integers, ``float64``
for floats, the nesting as its shape.

Anything else returns ``None`` and the caller reads the array with msgpack, as
before: a map, a string, ``nil`` or a bool among the numbers, integers mixed
with floats, an unsigned 64-bit number above ``2**63 - 1``, a ragged or empty
array, more than :data:`MAX_DIMS` levels, fewer than :data:`MIN_NUMBERS`
numbers, or numba not installed. Every read is checked against the end of the
bytes, and the array is allocated only once its declared size fits in them:
work and memory are a small constant times the bytes that arrived.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from resonance_callback._extras import needs_extra

__all__ = ["MAX_DIMS", "MIN_NUMBERS", "available", "read_numbers", "warm"]

log = logging.getLogger("resonance_callback.serve")

#: Arrays of fewer numbers are left to msgpack (it is as fast for them).
MIN_NUMBERS = 256
#: Deeper arrays are left to msgpack.
MAX_DIMS = 8
_LONG = {0xDC: 3, 0xDD: 5}  # header lengths of array16 and array32

def _header(buf: Any, at: int, end: int) -> tuple[Any, Any]:
    """``(count, header length)`` of the array header at ``at``; length 0: none there."""
    if at >= end:
        return 0, 0
    marker = np.int64(buf[at])
    if 0x90 <= marker <= 0x9F:
        return marker - 0x90, 1
    if marker == 0xDC and at + 3 <= end:
        return (np.int64(buf[at + 1]) << 8) | np.int64(buf[at + 2]), 3
    if marker == 0xDD and at + 5 <= end:
        count = np.int64(0)
        for i in range(1, 5):
            count = (count << 8) | np.int64(buf[at + i])
        return count, 5
    return 0, 0


def _unsigned(buf: Any, at: Any, size: Any) -> Any:
    """The big-endian unsigned number of ``size`` bytes at ``at`` (8 bytes wrap to int64)."""
    value = np.int64(0)
    for i in range(at, at + size):
        value = (value << 8) | np.int64(buf[i])
    return value


def _integers(buf: Any, at: Any, end: int, count: int, ints: Any, k: int) -> Any:
    """Read ``count`` msgpack integers at ``at`` into ``ints[k:]``; where they end, or -1."""
    for i in range(k, k + count):
        if at >= end:
            return -1
        marker = np.int64(buf[at])
        if marker < 0x80:  # positive fixint
            ints[i] = marker
            at += 1
        elif marker == 0xCD and at + 3 <= end:  # uint16: a detector's counts
            ints[i] = (np.int64(buf[at + 1]) << 8) | np.int64(buf[at + 2])
            at += 3
        elif marker >= 0xE0:  # negative fixint
            ints[i] = marker - 0x100
            at += 1
        elif 0xCC <= marker <= 0xD3:  # uint8-64, int8-64
            size = np.int64(1) << ((marker - 0xCC) & 3)
            if at + 1 + size > end or (marker == 0xCF and buf[at + 1] >= 0x80):
                return -1  # cut short, or above 2**63 - 1: numpy would not make it an int64
            value = _unsigned(buf, at + 1, size)
            if marker >= 0xD0 and size < 8 and value >= (np.int64(1) << (8 * size - 1)):
                value -= np.int64(1) << (8 * size)
            ints[i] = value
            at += 1 + size
        else:
            return -1
    return at


def _floats(buf: Any, at: Any, end: int, count: int, floats: Any, k: int, single: Any) -> Any:
    """Read ``count`` msgpack floats at ``at`` into ``floats[k:]``; where they end, or -1.

    A float64's bytes land as they are (through an int64 view of ``floats``); a
    float32's go through ``single`` (an int32 array and its float32 view).
    """
    bits = floats.view(np.int64)
    for i in range(k, k + count):
        if at + 9 <= end and buf[at] == 0xCB:
            bits[i] = _unsigned(buf, at + 1, 8)
            at += 9
        elif at + 5 <= end and buf[at] == 0xCA:
            single[0][0] = _unsigned(buf, at + 1, 4)
            floats[i] = single[1][0]
            at += 5
        else:
            return -1
    return at


def _walk(buf: Any, start: int, end: int, shape: Any, ints: Any, floats: Any) -> int:
    """Read the rectangular array of ``shape`` at ``buf[start:]`` (not past ``end``).

    Integers go to ``ints``, floats to ``floats`` (the other is empty). Returns
    where the array ends, or -1 when the bytes are anything else.
    """
    ndim = len(shape)
    left = np.zeros(ndim, np.int64)
    single = np.zeros(1, np.int32)
    single_view = (single, single.view(np.float32))  # made once: a view per number is slow
    at, depth, k = start, 0, 0
    real = len(floats) > 0  # which, the caller read off the first number
    total = len(floats) if real else len(ints)
    while True:
        while True:  # the headers down to the numbers
            count, length = _header(buf, at, end)
            if length == 0 or count != shape[depth]:
                return -1
            at += length
            left[depth] = count
            if depth == ndim - 1:
                break
            depth += 1
        if k + shape[depth] > total:
            return -1
        if real:
            at = _floats(buf, at, end, shape[depth], floats, k, single_view)
        else:
            at = _integers(buf, at, end, shape[depth], ints, k)
        if at < 0:
            return -1
        k += shape[depth]
        left[depth] = 0
        while depth > 0:  # up to the first level with an array left to read
            depth -= 1
            left[depth] -= 1
            if left[depth] > 0:
                break
        if left[depth] == 0:
            return int(at)
        depth += 1


_kernel: Any = None  # _walk compiled: until then msgpack reads every array
_compiling = threading.Lock()


def available() -> bool:
    """Whether arrays are read whole here (numba is installed and the reader compiled)."""
    return _kernel is not None


def read_numbers(buf: bytes, start: int, end: int | None = None
                 ) -> tuple[np.ndarray, int] | None:
    """The msgpack array at ``buf[start:]`` as numpy reads what msgpack gives, and its end.

    ``(array, where it ends)``; None when it is not a rectangular array of numbers
    read here (nothing is read past ``end``, default the end of ``buf``).
    """
    kernel = _kernel
    end = len(buf) if end is None else min(end, len(buf))
    if kernel is None or end - start < MIN_NUMBERS:
        return None
    shape: list[int] = []
    at = start
    while len(shape) <= MAX_DIMS and at < end:
        marker = buf[at]
        if 0x90 <= marker <= 0x9F:
            count, length = marker - 0x90, 1
        elif marker in (0xDC, 0xDD) and at + _LONG[marker] <= end:
            count, length = int.from_bytes(buf[at + 1:at + _LONG[marker]], "big"), _LONG[marker]
        else:
            break
        shape.append(count)
        at += length
    if not shape or len(shape) > MAX_DIMS or 0 in shape:
        return None
    numbers = 1
    for count in shape:  # each number takes a byte at least: bounded by what arrived
        numbers *= count
        if numbers > end - start:
            return None
    if numbers < MIN_NUMBERS or at >= end:
        return None
    region = np.frombuffer(buf, np.uint8)
    real = buf[at] in (0xCA, 0xCB)  # the first number says which: floats or integers
    ints = np.empty(0 if real else numbers, np.int64)
    floats = np.empty(numbers if real else 0, np.float64)
    stop = kernel(region, start, end, np.asarray(shape, np.int64), ints, floats)
    if stop < 0:
        return None
    return (floats if real else ints).reshape(shape), int(stop)


def _compile() -> None:
    global _kernel
    with _compiling:
        if _kernel is not None:
            return
        try:  # compiled once, then cached beside this module (or in numba's cache directory)
            with needs_extra("serve", "numba", "reading arrays sent as lists in one pass"):
                import numba
        except ImportError:  # MissingExtraError: msgpack reads them, as before
            log.info("numba is not installed: msgpack reads arrays sent as lists, "
                     "one number at a time")
            return
        sample = bytes([0xDC, 0x01, 0x00]) + bytes(range(0x80)) * 2
        region = np.frombuffer(sample, np.uint8)
        ints, floats = np.empty(256, np.int64), np.empty(0, np.float64)
        try:
            inline = numba.njit(nogil=True, boundscheck=False, inline="always")
            glob = globals()
            glob["_header"], glob["_unsigned"] = inline(_header), inline(_unsigned)
            glob["_integers"], glob["_floats"] = inline(_integers), inline(_floats)
            kernel = numba.njit(cache=True, nogil=True, boundscheck=False)(_walk)
            stop = kernel(region, 0, len(sample), np.asarray([256], np.int64), ints, floats)
        except Exception as exc:  # noqa: BLE001 - msgpack reads every array, as before
            log.warning("msgpack reads arrays sent as lists: numba could not compile the "
                        "reader (%s: %s)", type(exc).__name__, exc)
            return
        if stop == len(sample) and ints.tolist() == [*range(0x80)] * 2:
            _kernel = kernel


def warm() -> None:
    """Compile the reader (or load it from numba's cache), once, before arrays arrive.

    A second or two with numba's cache, several seconds the first time.
    """
    if _kernel is None:
        _compile()
