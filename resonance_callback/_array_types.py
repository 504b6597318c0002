"""Arrays that text and msgpack formats turned into lists, given their declared dtype back.

JSON and msgpack keep no numpy dtype: a ``uint16`` frame comes back as a list of ints,
which numpy would store as ``int64``. Only keys whose descriptor declares ``dtype_numpy``
(area detectors and ophyd-async do) are converted; a value that does not convert is left
as it came, for the callback to say what is wrong. Only plain dtypes are given back
(numbers and bools, strings of at most 256 characters): never a subarray or structured
dtype, which would turn each number that arrived into an array of the declared size, so
a conversion costs at most a small constant times the bytes that arrived. Used by
``replay`` (saved streams) and ``serve`` (bluesky-nats messages), which must store what the
in-process callback would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ArrayTypes"]


class ArrayTypes:
    """Remember each descriptor's declared array dtypes; give event arrays them back.

    Call it with every ``(name, doc)`` in order; a run's descriptors are forgotten at its
    ``stop``. Documents are as they were read (``dict[str, object]``, unvalidated): each
    value is checked before it is used, and one that does not fit is left as it came.
    """

    def __init__(self) -> None:
        self._types: dict[str, dict[str, np.dtype[Any]]] = {}
        self._of_run: dict[str, list[str]] = {}  # run uid -> its descriptors with types

    def __call__(self, name: str, doc: dict[str, object]) -> dict[str, object]:
        """The document with its arrays typed (a new dict; the original is not changed)."""
        if not isinstance(doc, dict):
            return doc
        if name == "descriptor":
            self._note(doc)
        elif name in ("event", "event_page"):
            return self._typed(name, doc)
        elif name == "stop":
            run_start = doc.get("run_start")
            if isinstance(run_start, str):
                for descriptor in self._of_run.pop(run_start, []):
                    self._types.pop(descriptor, None)
        return doc

    def _note(self, doc: dict[str, object]) -> None:
        types = {}
        data_keys = doc.get("data_keys")
        for key, data_key in (data_keys.items() if isinstance(data_keys, dict) else ()):
            if not isinstance(data_key, dict):
                continue
            declared = data_key.get("dtype_numpy")
            if isinstance(declared, str) and data_key.get("dtype") == "array":
                try:
                    dtype = np.dtype(declared)
                except Exception:  # noqa: BLE001,S112 - not a dtype: values stay as they came
                    continue
                if _plain(dtype):
                    types[key] = dtype
        uid, run_start = doc.get("uid"), doc.get("run_start")
        if types and isinstance(uid, str):
            self._types[uid] = types
            if isinstance(run_start, str):
                self._of_run.setdefault(run_start, []).append(uid)

    def _typed(self, name: str, doc: dict[str, object]) -> dict[str, object]:
        descriptor = doc.get("descriptor")
        types = self._types.get(descriptor) if isinstance(descriptor, str) else None
        data = doc.get("data")
        if not types or not isinstance(data, dict):
            return doc
        typed = dict(data)
        for key, dtype in types.items():
            value = data.get(key)
            if name == "event" and isinstance(value, list):
                typed[key] = _as_array(value, dtype)
            elif name == "event_page" and isinstance(value, list):
                typed[key] = [_as_array(v, dtype) if isinstance(v, list) else v for v in value]
        return {**doc, "data": typed}


def _as_array(value: list[Any], dtype: np.dtype[Any]) -> np.ndarray | list[Any]:
    try:
        return np.asarray(value, dtype=dtype)
    except Exception:  # noqa: BLE001 - left to the callback, which says what is wrong
        return value


def _plain(dtype: np.dtype[Any]) -> bool:
    """A dtype whose conversion costs a few bytes per value that arrived."""
    if dtype.subdtype is not None or dtype.names is not None:
        return False
    return dtype.kind in "biufc" or (dtype.kind in "SU" and dtype.itemsize <= 4 * 256)
