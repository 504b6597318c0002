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
* anything else is stored as its ``repr`` string rather than raising;
* a lone UTF-16 surrogate in a string is written as a ``\\uXXXX`` escape (the
  text stays valid UTF-8 and decodes back to the same string).

The encoding is unambiguous: an object with exactly one member whose name
starts with ``$`` is one of our tags (``$float``, ``$bytes``, ``$dict``), so a
user's object of that form (``{"$float": 1}``, ``{"$bytes": "!!"}``) is
written as ``{"$dict": [["$float", 1]]}`` and decodes back to itself. Text
written before this rule (untagged user objects) still decodes as it did; a
``$bytes`` whose text is not base64 decodes as the object it is.

:func:`dumps_whole` encodes a document that :func:`dumps` cannot (nested too
deep), replacing the parts deeper than :data:`MAX_DEPTH` by a marker string.

Speed: a dict holding only dicts, lists, plain scalars, numeric numpy scalars
and numeric or string numpy arrays (every event's ``data`` and ``timestamps``,
most descriptors and starts) is encoded by ``orjson``,
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

__all__ = ["MAX_DEPTH", "dumps", "dumps_whole", "loads", "may_hold_long_integer", "to_builtin"]

_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

#: Deepest nesting :func:`dumps_whole` keeps; deeper parts become a marker string.
MAX_DEPTH = 100


#: Digits to ``0``, a point to itself, other bytes to a space: an integer of 19 digits or more
#: is then a space and 19 zeros (a float's fraction follows a point, its exponent is short).
_DIGIT_RUNS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E if b == 0x2E else 0x20
                    for b in range(256))
_ANY_RUN, _LONG_RUN = b"0" * 19, b" " + b"0" * 19  # 19 digits after anything; after a space


def may_hold_long_integer(data: bytes | str) -> bool:
    """Whether JSON text ``data`` (bytes or str) may hold an integer of 19 digits or more.

    orjson reads an integer beyond 64 bits as a float, silently: such text is for
    :func:`loads` (the json module), which keeps it exact. False only when no
    token of the text is such an integer.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    runs = raw.translate(_DIGIT_RUNS)  # 19 digits in a row anywhere first: rules most text out
    return _ANY_RUN in runs and (_LONG_RUN in runs or runs[:19] == _ANY_RUN)


def _looks_like_tag(value: dict[Any, Any]) -> bool:
    """Whether a user's dict has the shape of one of our tags (one ``$`` member)."""
    if len(value) != 1:
        return False
    key = next(iter(value))
    return isinstance(key, str) and key.startswith("$")


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
        if _looks_like_tag(value):
            return {"$dict": [[str(k), to_builtin(v)] for k, v in value.items()]}
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


#: orjson's own encoding of an integer or boolean array (no list of Python ints made).
_Fragment = getattr(orjson, "Fragment", None)


def _orjson_default(value: Any) -> Any:
    if type(value) is np.ndarray:
        if (_Fragment is not None and value.dtype.kind in "biu" and value.size
                and value.dtype.isnative and value.flags.c_contiguous):
            return _Fragment(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY))
        return value.tolist()
    if type(value) in _NUMPY_SCALARS:
        return value.item()
    raise TypeError(type(value).__name__)  # orjson raises; dumps() falls back


def _orjson_safe(value: dict[Any, Any]) -> bool:
    """Whether orjson writes ``value`` as the json path would (up to float spelling).

    Walks dicts, lists and tuples (not numpy arrays, whose dtype says enough):
    anything but plain scalars, numeric numpy scalars and numeric or string
    arrays (a datetime, an enum, a subclass, ...) sends the value to the json path.
    """
    if _PLAIN.issuperset(map(type, value.values())):  # flat and plain: the usual event
        return True
    stack: list[Any] = [value]
    seen = {id(value)}  # a container met twice (a cycle, or shared): the json path decides
    pop, push, add = stack.pop, stack.append, seen.add
    while stack:
        node = pop()
        for item in (node.values() if type(node) is dict else node):
            kind = type(item)
            if kind in _PLAIN or kind in _NUMPY_SCALARS:
                continue
            if kind is np.ndarray:
                if item.dtype.kind not in "biufU":
                    return False
            elif kind is dict or kind is list or kind is tuple:
                if id(item) in seen:
                    return False
                add(id(item))
                push(item)
            else:
                return False
    return True


def _fast_dumps(value: dict[Any, Any]) -> str | None:
    """Encode a dict with orjson, or return None when the json path must decide."""
    if not _orjson_safe(value):
        return None
    try:
        out = orjson.dumps(value, default=_orjson_default)
    except TypeError:  # non-str keys, ints beyond 64 bits, lone surrogates, depth, ...
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
        text = _fast_dumps(value)  # orjson refuses lone surrogates: valid UTF-8 always
        if text is not None and '"$' not in text:
            return text
    try:
        text = _fast.encode(value)
    except ValueError:  # a NaN or an infinity somewhere: walk and tag
        text = _safe.encode(to_builtin(value))
    else:
        if '"$' in text:  # maybe a user object shaped like a tag: walk and escape
            text = _safe.encode(to_builtin(value))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: escape every non-ASCII character
            return json.dumps(json.loads(text), ensure_ascii=True,
                              separators=(",", ":"))
    return text


def _clip(value: Any, depth: int) -> Any:
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return f"<{type(value).__name__} nested deeper than {MAX_DEPTH} levels, not kept>"
    if isinstance(value, dict):
        return {str(k): _clip(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clip(v, depth + 1) for v in value]
    return value


def dumps_whole(value: Any) -> str:
    """Encode ``value`` as :func:`dumps` does, or, nested too deep, clipped at :data:`MAX_DEPTH`.

    Parameters
    ----------
    value : Any
        A document, possibly one the store refused.

    Returns
    -------
    str
        JSON text; parts nested deeper than :data:`MAX_DEPTH` are a marker string.
    """
    try:
        return dumps(value)
    except RecursionError:
        return dumps(_clip(value, 0))


def _object_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$float" in obj and obj["$float"] in _NONFINITE:
            return _NONFINITE[obj["$float"]]
        if "$bytes" in obj and isinstance(obj["$bytes"], str):
            try:
                return base64.b64decode(obj["$bytes"], validate=True)
            except ValueError:  # not ours (written before tags were escaped): as it is
                return obj
        if "$dict" in obj and isinstance(obj["$dict"], list) and all(
                isinstance(m, list) and len(m) == 2 and isinstance(m[0], str)
                for m in obj["$dict"]):
            return dict(obj["$dict"])
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
