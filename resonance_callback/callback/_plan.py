"""Decide, once per descriptor, where each data key is stored; then check values against it.

* ``INLINE``: scalars, strings, bools and small 1-D arrays go into ``events.data``;
* ``FRAME``: arrays of two or more dimensions (a frame, or a stack of frames per
  event), and 1-D arrays longer than ``inline_limit``, go to Zarr;
* ``EXTERNAL``: keys with ``external`` set; the event holds a reference (a
  datum id) or nothing at all (ophyd-async ``STREAM:`` keys).

A key declared as an array with no usable shape is decided by its first value.
A key whose declared shape has a dimension of unknown size (``None``: ``[2, null]``,
a ragged or variable-length array, as TiledWriter reads it) is stored inline, each
value as it came (nested lists), whatever shape each event's value has; one of more
than :data:`MAX_RAGGED_ELEMENTS` elements is left out and recorded with the reason.
So is an array of strings (``dtype_numpy`` ``<U``/``S``, or values of text): it
reads back as strings (TiledWriter keeps them too), where Zarr frames hold numbers.

Nothing is allocated from a declaration. A key whose declared shape and
``dtype_numpy`` (its full itemsize, subarrays and structured fields included)
make more than :data:`MAX_DECLARED_BYTES` per event is refused at the
descriptor: each event's value for it is left out and recorded with the reason,
the rest of the event is stored.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from resonance_callback.callback._copies import FrameCopies, frozen
from resonance_callback.callback._leaves import is_text, more_elements
from resonance_callback.external import DEFAULT_MAX_READ_BYTES

__all__ = ["INLINE_LIMIT", "MAX_DECLARED_BYTES", "MAX_RAGGED_ELEMENTS", "KeyPlan", "Split",
           "Storage", "StreamPlan", "frozen"]

#: 1-D arrays with more elements than this are stored in Zarr, not in JSON.
INLINE_LIMIT = 1024

#: The most bytes one event's value of a (non-external) key may be declared to hold.
MAX_DECLARED_BYTES = DEFAULT_MAX_READ_BYTES

#: The most elements one event's value of a ragged key (a ``None`` in its declared
#: shape) may hold; it is stored inline as JSON.
MAX_RAGGED_ELEMENTS = 1_000_000


class Storage(enum.Enum):
    """Where the values of one data key go."""

    INLINE = "inline"
    FRAME = "frame"
    EXTERNAL = "external"


def _declared_shape(data_key: Mapping[str, object]) -> tuple[int, ...] | None:
    shape = data_key.get("shape")
    if not isinstance(shape, list | tuple) or not shape:
        return None
    if all(isinstance(n, int) and n > 0 for n in shape):
        return tuple(shape)
    return None


def _declared_ragged(data_key: Mapping[str, object]) -> bool:
    """Whether the key declares an array with a dimension of unknown size (``None``)."""
    shape = data_key.get("shape")
    return (data_key.get("dtype") == "array" and isinstance(shape, list | tuple)
            and any(n is None for n in shape)
            and all(n is None or (type(n) is int and n >= 0) for n in shape))


def _declared_text(data_key: Mapping[str, object]) -> bool:
    """Whether the key declares an array of strings (``dtype_numpy`` of kind ``U`` or ``S``)."""
    dtype = declared_dtype(data_key.get("dtype_numpy"))
    return dtype is not None and dtype.kind in "US"


def declared_dtype(value: Any) -> np.dtype[Any] | None:
    """The numpy dtype a ``dtype_numpy`` declares (a string or a list of fields), or None."""
    if isinstance(value, str) and len(value) <= 1000:
        spec: Any = value
    elif isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and (
            isinstance(value[1], list)):  # a subarray: ["<f8", [n, m]]
        spec = (value[0], tuple(value[1]))
    elif isinstance(value, list) and len(value) <= 1000 and all(
            isinstance(f, list | tuple) and 2 <= len(f) <= 3 for f in value):
        spec = [tuple(f) for f in value]
    else:
        return None
    try:
        dtype: np.dtype[Any] = np.dtype(spec)
    except Exception:  # noqa: BLE001 - not a dtype numpy reads: nothing declared
        return None
    return dtype


def _declared_bytes(data_key: Mapping[str, object]) -> int:
    """The bytes one value of the key holds as declared (0 when nothing usable is declared)."""
    dtype = declared_dtype(data_key.get("dtype_numpy"))
    if dtype is None:
        return 0
    shape = data_key.get("shape")
    sizes = shape if isinstance(shape, list | tuple) else ()
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in sizes):
        sizes = ()
    return math.prod(sizes) * dtype.itemsize  # itemsize counts subarrays and fields


@dataclass
class KeyPlan:
    """The storage decision for one data key of one descriptor."""

    key: str
    storage: Storage | None  # None: decided by the first value
    shape: tuple[int, ...] | None  # the frame shape every value must have
    refused: str | None = None  # why every value of the key is left out
    ragged: bool = False  # a None in the declared shape, or text: inline, each value as it came

    @classmethod
    def from_data_key(cls, key: str, data_key: Mapping[str, object], inline_limit: int
                      ) -> KeyPlan:
        """Decide storage for ``key`` from its descriptor entry."""
        if data_key.get("external"):
            return cls(key, Storage.EXTERNAL, _declared_shape(data_key))
        declared = _declared_bytes(data_key)
        if declared > MAX_DECLARED_BYTES:
            return cls(key, Storage.INLINE, None, refused=(
                f"key {key!r}: the descriptor declares shape {data_key.get('shape')} of "
                f"dtype_numpy {str(data_key.get('dtype_numpy'))[:200]!r}, {declared} bytes per "
                f"event, over {MAX_DECLARED_BYTES}; its values are not stored"))
        shape = _declared_shape(data_key)
        if data_key.get("dtype") != "array":
            return cls(key, Storage.INLINE, None)
        if _declared_ragged(data_key) or _declared_text(data_key):
            return cls(key, Storage.INLINE, None, ragged=True)
        if shape is None:
            return cls(key, None, None)
        if len(shape) >= 2 or math.prod(shape) > inline_limit:
            return cls(key, Storage.FRAME, shape)
        return cls(key, Storage.INLINE, None)


@dataclass
class Split:
    """One event's data, split by storage."""

    inline: dict[str, Any]
    frames: dict[str, np.ndarray]
    problems: list[str]


class StreamPlan:
    """Storage decisions for every data key of one descriptor.

    Parameters
    ----------
    data_keys : Mapping
        The descriptor's ``data_keys`` as it came (an entry that is not a dict
        declares nothing).
    inline_limit : int, optional
        1-D arrays longer than this go to Zarr.
    copies : FrameCopies, optional
        Where frames are copied; by default each into fresh memory (:func:`frozen`).

    Attributes
    ----------
    data_keys : Mapping
        The descriptor's ``data_keys`` as given (declared shapes of external keys).
    keys : dict of str to KeyPlan
        The decision for each key.
    all_inline : bool
        Whether every key is stored inline (a scalar stream).
    has_external : bool
        Whether any key is external (its data comes from detector files).
    """

    def __init__(self, data_keys: Mapping[str, object], inline_limit: int = INLINE_LIMIT,
                 copies: FrameCopies | None = None) -> None:
        self.inline_limit = inline_limit
        self._copy = frozen if copies is None else copies.copy
        self.data_keys = data_keys
        self.keys = {
            key: KeyPlan.from_data_key(key, dk if isinstance(dk, dict) else {}, inline_limit)
            for key, dk in data_keys.items()
        }
        #: Every key inline (the common scalar stream): split() only looks for arrays.
        self.all_inline = all(p.storage is Storage.INLINE and p.refused is None
                              for p in self.keys.values())
        #: Whether any key is external (detector files, ophyd-async ``STREAM:`` keys).
        self.has_external = any(p.storage is Storage.EXTERNAL for p in self.keys.values())

    def _decide(self, plan: KeyPlan, value: Any) -> None:
        try:
            arr = np.asarray(value) if isinstance(value, list | tuple | np.ndarray) else None
        except ValueError:  # ragged lists: no array, stored inline as they came
            arr = None
        if arr is not None and arr.dtype.kind in "US" and arr.ndim >= 1 and is_text(value):
            plan.storage, plan.ragged = Storage.INLINE, True  # text: inline, as it came
        elif arr is not None and arr.dtype != object and (
            arr.ndim >= 2 or (arr.ndim == 1 and arr.size > self.inline_limit)
        ):
            plan.storage, plan.shape = Storage.FRAME, arr.shape
        else:
            plan.storage = Storage.INLINE

    def split(self, data: dict[str, Any]) -> Split:
        """Split an event's ``data`` into inline values and frames, checking each frame.

        A frame whose shape differs from the one decided for its key is left
        out and named in ``problems``; so is an array where a scalar was
        declared. Keys the descriptor does not declare are stored inline.
        """
        if self.all_inline:
            for value in data.values():
                if isinstance(value, np.ndarray) or (type(value) is list and value and (
                        len(value) > self.inline_limit or type(value[0]) is list)):
                    break
            else:
                return Split(dict(data), {}, [])
        inline: dict[str, Any] = {}
        frames: dict[str, np.ndarray] = {}
        problems: list[str] = []
        for key, value in data.items():
            plan = self.keys.get(key)
            if plan is None:
                inline[key] = value
                continue
            if plan.refused is not None:
                problems.append(plan.refused)
                continue
            if plan.storage is None:
                self._decide(plan, value)
            if plan.ragged:  # any shape, as it came; bounded in elements
                if (type(value) is list and more_elements(value, MAX_RAGGED_ELEMENTS)) or (
                        isinstance(value, np.ndarray) and value.size > MAX_RAGGED_ELEMENTS):
                    problems.append(f"key {key!r}: ragged value of more than "
                                    f"{MAX_RAGGED_ELEMENTS} elements; left out")
                else:
                    inline[key] = value
            elif plan.storage is Storage.FRAME:
                try:
                    frame = self._copy(value)
                except (ValueError, TypeError) as exc:  # ragged lists: this frame alone
                    problems.append(f"key {key!r}: value is no array ({exc}); left out")
                    continue
                if frame.dtype.kind in "US" and frame.shape == plan.shape and is_text(value):
                    inline[key] = value  # text where frames were declared: as it came
                elif frame.shape != plan.shape:
                    problems.append(
                        f"key {key!r}: value of shape {frame.shape} does not match "
                        f"the shape {list(plan.shape or ())} decided at the descriptor"
                    )
                else:
                    frames[key] = frame
            elif plan.storage is Storage.INLINE and isinstance(value, np.ndarray) and (
                value.ndim >= 2 or value.size > self.inline_limit
            ):
                problems.append(
                    f"key {key!r}: array of shape {value.shape} where the descriptor "
                    "declares a scalar or short array"
                )
            elif plan.storage is Storage.INLINE and type(value) is list and (
                more_elements(value, self.inline_limit)
            ):
                problems.append(
                    f"key {key!r}: list of more than {self.inline_limit} elements (or "
                    f"{16 * self.inline_limit} lists) where the descriptor declares a scalar or "
                    "short array"
                )
            else:
                inline[key] = value
        return Split(inline, frames, problems)

    def frame_keys(self) -> list[str]:
        """Keys currently decided as frames."""
        return [k for k, p in self.keys.items() if p.storage is Storage.FRAME]
