"""Event arrays that bluesky-nats packed as msgpack lists, read whole and typed in one step.

:func:`unpack_event` reads an ``event`` or ``event_page`` message as
``msgpack.unpackb`` would, except that each large array of plain numbers in its
``data`` arrives as :class:`Numbers`: the array numpy would make of msgpack's
lists, read in compiled code (:mod:`._numbers`); msgpack reads everything else
(and the whole message again, to say what is wrong, if anything is).
:class:`WholeTypes` then gives each its descriptor's ``dtype_numpy`` in one cast
where that is exactly what ``np.asarray(list, dtype)`` gives, and the lists
msgpack would have given otherwise: the documents the callback sees are the
same as before, only arrived sooner.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from resonance_callback._array_types import ArrayTypes
from resonance_callback.serve._numbers import read_numbers

__all__ = ["Numbers", "WholeTypes", "unpack_event"]

_ARRAY = frozenset({*range(0x90, 0xA0), 0xDC, 0xDD})
_HEADER = {0xDC: 3, 0xDD: 5}  # array header lengths (1 for the others)
#: Smaller messages are read by msgpack alone: they hold no array worth reading whole.
WORTH = 4096
_MAP = frozenset({*range(0x80, 0x90), 0xDE, 0xDF})


class Numbers:
    """An array of numbers that arrived as a msgpack array: what numpy makes of its list."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def typed(self, dtype: np.dtype[Any] | None) -> Any:
        """``np.asarray(the list, dtype)``, or the list where that fails (as ArrayTypes does).

        Without a declared dtype, the list msgpack would have given.
        """
        array = self.array
        if dtype is None:
            return array.tolist()
        try:
            if array.dtype.kind == "i" and dtype.kind in "iu":
                info = np.iinfo(dtype)
                if array.min() < info.min or array.max() > info.max:
                    return array.tolist()  # np.asarray raises OverflowError: the list is kept
                return array.astype(dtype)
            if dtype.kind == "f" and dtype.itemsize <= 8:  # Python numbers go through a double
                return array.astype(np.float64).astype(dtype)
        except Exception:  # noqa: BLE001 - a warning made an error: as np.asarray's
            return array.tolist()
        values = array.tolist()
        try:
            return np.asarray(values, dtype=dtype)
        except Exception:  # noqa: BLE001 - left to the callback, which says what is wrong
            return values


class WholeTypes(ArrayTypes):
    """:class:`ArrayTypes` that also types the :class:`Numbers` of :func:`unpack_event`."""

    def _typed(self, name: str, doc: dict[str, object]) -> dict[str, object]:
        data = doc.get("data")
        if isinstance(data, dict) and any(_has_numbers(v) for v in data.values()):
            descriptor = doc.get("descriptor")
            types = self._types.get(descriptor, {}) if isinstance(descriptor, str) else {}
            typed: dict[Any, Any] = {}
            for key, value in data.items():
                dtype = types.get(key)
                if isinstance(value, Numbers):
                    value = value.typed(dtype)
                elif isinstance(value, list) and _has_numbers(value):
                    value = [v.typed(dtype) if isinstance(v, Numbers) else v for v in value]
                typed[key] = value
            doc = {**doc, "data": typed}
        return super()._typed(name, doc)


def _has_numbers(value: object) -> bool:
    return isinstance(value, Numbers) or (
        isinstance(value, list) and any(isinstance(v, Numbers) for v in value))


class _Cursor:
    """A msgpack Unpacker over ``payload`` that can jump past what was read without it."""

    def __init__(self, payload: bytes, hook: Any) -> None:
        self.payload, self.hook, self.base = payload, hook, 0
        self.jump(0)

    def jump(self, at: int) -> None:
        self.base = at
        self.unpacker = msgpack.Unpacker(None, raw=False, strict_map_key=False,
                                         object_hook=self.hook,
                                         max_buffer_size=max(1, len(self.payload) - at))
        self.unpacker.feed(memoryview(self.payload)[at:])

    def tell(self) -> int:
        at: int = self.base + self.unpacker.tell()
        return at


def unpack_event(payload: bytes, page: bool, hook: Any) -> dict[Any, Any] | None:
    """The event (``page``: event page) ``payload`` holds, its data's arrays whole.

    None when it is not worth it (no large array) or anything is unusual: the
    caller reads the payload with ``msgpack.unpackb`` (``object_hook=hook``), which
    says what is wrong with it, if anything.
    """
    if len(payload) < WORTH or payload[0] not in _MAP:
        return None
    cursor = _Cursor(payload, hook)
    found = [0]
    try:
        doc = {}
        for _ in range(cursor.unpacker.read_map_header()):
            key = cursor.unpacker.unpack()
            if key == "data" and payload[cursor.tell()] in _MAP:
                doc[key] = _data(cursor, page, found)
            else:
                doc[key] = cursor.unpacker.unpack()
        if cursor.tell() != len(payload) or not found[0]:
            return None
        result: dict[Any, Any] | None = hook(doc)
        return result
    except Exception:  # noqa: BLE001 - msgpack reads it again and says what is wrong
        return None


def _data(cursor: _Cursor, page: bool, found: list[int]) -> Any:
    data = {}
    payload = cursor.payload
    for _ in range(cursor.unpacker.read_map_header()):
        key = cursor.unpacker.unpack()
        at = cursor.tell()
        if page and payload[at] in _ARRAY and payload[at + _HEADER.get(payload[at], 1)] in _ARRAY:
            data[key] = [_value(cursor, found)
                         for _ in range(cursor.unpacker.read_array_header())]
        else:
            data[key] = _value(cursor, found)
    return cursor.hook(data)


def _value(cursor: _Cursor, found: list[int]) -> Any:
    at = cursor.tell()
    read = read_numbers(cursor.payload, at) if cursor.payload[at] in _ARRAY else None
    if read is None:
        return cursor.unpacker.unpack()
    found[0] += 1
    cursor.jump(read[1])
    return Numbers(read[0])
