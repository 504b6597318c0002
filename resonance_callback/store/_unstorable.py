"""Values of an event that cannot be stored: each left out alone, the rest of the event kept.

An event's ``data`` and ``timestamps`` are stored as JSON in its row. A value the
encoder refuses (an object whose ``repr`` raises, a dict with tuple keys, nesting
too deep, a list that holds itself) or one that makes ``data`` larger than
:data:`MAX_DATA_BYTES` would refuse the whole row; :func:`without_unstorable`
gives the row without those values, and says which and why, so the event's
other values are stored (the event document is kept whole in
``rejected_documents`` with that reason).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.errors import DocumentError
from resonance_callback.store._rows import EventRow

__all__ = ["MAX_DATA_BYTES", "OversizedError", "without_unstorable"]

#: Bytes of one event's encoded ``data`` beyond which the row is refused (a value far
#: larger than its declaration said; arrays declared as such go to Zarr).
MAX_DATA_BYTES = 16 * 1024**2


class OversizedError(DocumentError):
    """An event's ``data`` is more than :data:`MAX_DATA_BYTES` as JSON."""


def without_unstorable(row: EventRow) -> tuple[EventRow, str] | None:
    """``row`` without the values that cannot be stored, and what was left out; None if none.

    A value the encoder refuses (in ``data`` or ``timestamps``) is left out; then,
    while ``data`` is more than :data:`MAX_DATA_BYTES` as JSON, its largest value.
    One value costs only itself: the event's other values are stored.
    """
    parts: dict[str, dict[str, Any]] = {"data": {}, "timestamps": {}}
    sizes: dict[str, int] = {}
    notes: list[str] = []
    for part, values in (("data", row.data), ("timestamps", row.timestamps)):
        if not isinstance(values, dict):
            return None
        for key, value in values.items():
            try:
                size = len(jsoncodec.dumps({key: value}))
            except Exception as exc:  # noqa: BLE001 - this value alone cannot be encoded
                notes.append(f"{part} key {str(key)[:200]!r} (a {type(value).__name__}) cannot "
                             f"be encoded ({type(exc).__name__}: {str(exc)[:200]})")
                continue
            parts[part][key] = value
            if part == "data":
                sizes[key] = size
    total = sum(sizes.values())
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if total <= MAX_DATA_BYTES:
            break
        del parts["data"][key]
        total -= sizes[key]
        notes.append(f"data key {str(key)[:200]!r} is {sizes[key]} bytes as JSON, more than "
                     f"the event's data may hold ({MAX_DATA_BYTES} bytes in all)")
    if not notes:
        return None
    kept = dataclasses.replace(row, data=parts["data"], timestamps=parts["timestamps"])
    return kept, "; ".join(notes)
