"""The one JSON encoder and decoder for everything the library stores.

Stored JSON must be read by SQLite's JSON functions, which (SQLite < 3.42)
reject the ``NaN`` / ``Infinity`` tokens Python writes by default. So:

* finite floats, ints of any size, strings, bools and ``None`` are plain JSON
  (an int beyond 2**53 or 2**63 is written with all its digits; Python reads it
  back exactly, SQL sees a number);
* a non-finite float becomes ``{"$float": "NaN"}``, ``{"$float": "Infinity"}``
  or ``{"$float": "-Infinity"}``, and decodes back to the float;
* numpy scalars become the matching Python value, numpy arrays nested lists,
  tuples lists, sets sorted lists, ``bytes`` ``{"$bytes": "<base64>"}``;
* anything else is stored as its ``repr`` string rather than raising.

Speed: a dict whose values are all plain scalars, numeric numpy scalars,
numeric or string numpy arrays, or lists of plain scalars (every event's
``data`` and ``timestamps``) is encoded by ``orjson``,
about ten times faster than :mod:`json`; anything else, and any output that
holds a ``null`` (which may be a non-finite float orjson wrote as null), takes
the :mod:`json` path, so the stored text decodes to the same values either way.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np
import orjson  # the fast path for flat dicts

__all__ = ["dumps", "loads", "to_builtin"]

_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _float_token(value: float) -> dict[str, str] | float:
    if math.isnan(value):
        return {"$float": "NaN"}
    if math.isinf(value):
        return {"$float": "Infinity" if value > 0 else "-Infinity"}
    return value


def to_builtin(value: Any) -> Any:
    """Return ``value`` as plain JSON-able Python objects, tagging non-finite floats.

    Parameters
    ----------
    value : Any
        Any document value: dicts, lists, numpy scalars and arrays, ...

    Returns
    -------
    Any
        An equivalent structure of dict, list, str, int, float, bool and None.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float_token(float(value))
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_builtin(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_builtin(value.tolist())
    if isinstance(value, np.generic):
        return to_builtin(value.item())
    if isinstance(value, set | frozenset):
        return [to_builtin(v) for v in sorted(value, key=repr)]
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    return repr(value)


def _default(value: Any) -> Any:
    # Called by json for objects it cannot encode itself. A result holding a
    # non-finite float makes json raise ValueError, and dumps() then falls back.
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return to_builtin(value)


_fast = json.JSONEncoder(allow_nan=False, default=_default, separators=(",", ":"),
                         ensure_ascii=False)
_safe = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False)


_PLAIN = frozenset({str, int, float, bool, type(None)})
_NUMPY_SCALARS = frozenset({
    np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
    np.uint64, np.uint32, np.uint16, np.uint8, np.bool_,
})


def _orjson_default(value: Any) -> Any:
    if type(value) is np.ndarray:
        return value.tolist()
    if type(value) in _NUMPY_SCALARS:
        return value.item()
    raise TypeError(type(value).__name__)  # orjson raises; dumps() falls back


def _fast_dumps(value: dict[Any, Any]) -> str | None:
    """Encode a flat dict with orjson, or return None when the json path must decide."""
    for item in value.values():
        kind = type(item)
        if kind in _PLAIN or kind in _NUMPY_SCALARS:
            continue
        if kind is np.ndarray:
            if item.dtype.kind not in "biufU":
                return None
        elif kind is list or kind is tuple:
            for element in item:
                if type(element) not in _PLAIN:
                    return None
        else:
            return None
    try:
        out = orjson.dumps(value, default=_orjson_default)
    except TypeError:  # non-str keys, ints beyond 64 bits, lone surrogates, ...
        return None
    if b"null" in out:  # None or a non-finite float: the json path tags the latter
        return None
    return out.decode()


def dumps(value: Any) -> str:
    """Encode ``value`` as compact JSON that SQLite's JSON functions accept.

    Parameters
    ----------
    value : Any
        The object to encode.

    Returns
    -------
    str
        RFC 8259 JSON text (unicode kept as is).
    """
    if type(value) is dict:
        text = _fast_dumps(value)
        if text is not None:
            return text
    try:
        return _fast.encode(value)
    except ValueError:  # a NaN or an infinity somewhere: walk and tag
        return _safe.encode(to_builtin(value))


def _object_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$float" in obj and obj["$float"] in _NONFINITE:
            return _NONFINITE[obj["$float"]]
        if "$bytes" in obj and isinstance(obj["$bytes"], str):
            return base64.b64decode(obj["$bytes"])
    return obj


def loads(text: str | bytes | None) -> Any:
    """Decode JSON written by :func:`dumps`, restoring non-finite floats and bytes.

    Parameters
    ----------
    text : str, bytes or None
        JSON text; ``None`` (an SQL NULL) decodes to ``None``.

    Returns
    -------
    Any
        The decoded value.
    """
    if text is None:
        return None
    if isinstance(text, str) and '"$' not in text:  # no tagged value anywhere: skip the hook
        return json.loads(text)
    return json.loads(text, object_hook=_object_hook)
