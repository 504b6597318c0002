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
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np

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
