"""TiledWriter's stream-resource parameters: which it knows, and the shape each event gets.

bluesky-tiled-plugins' consolidators turn a stream resource's ``parameters``
and its descriptor's declared ``shape`` into the array Tiled serves for the key.
This module mirrors them, so an event here holds what the same event holds there:

* :func:`event_shape`: the per-event shape (TiledWriter's ``datum_shape``):
  a declared ``[1]`` is a scalar under ``join_method="stack"``; ``multiplier``
  (``frame_per_point`` before TiledWriter renamed it) ``m`` makes each event
  ``m`` frames (``[H, W]`` and ``[1, H, W]`` become ``[m, H, W]``);
  ``join_method="concat"`` joins events along their first axis, so a
  ``[1, H, W]`` event is an ``[H, W]`` row.
* :func:`parse_slice`: the ``slice`` parameter, a numpy index as text
  (``":,5,:"``), parsed (never evaluated) and bounded.
* :func:`check_known`: every parameter name must be one TiledWriter or Tiled's
  adapters read (:data:`KNOWN_PARAMETERS`); another is refused by name, never
  ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from resonance_callback._datum_shape import datum_shape as _datum_shape
from resonance_callback._datum_shape import multiplier_of
from resonance_callback.errors import ExternalDataError, FrameShapeError, MalformedReferenceError

KNOWN_PARAMETERS = frozenset({
    "dataset", "path", "template", "filename", "chunk_shape", "multiplier",
    "frame_per_point", "join_method", "join_chunks", "slice", "squeeze", "swmr",
    "locking", "spec", "files_per_datum",
})
"""The stream-resource parameters read as TiledWriter reads them; any other is refused."""

MAX_SLICE_LENGTH = 256
"""The longest ``slice`` parameter (characters) that is parsed."""

_INDEX = re.compile(r"[+-]?\d{1,18}")


def check_known(parameters: Mapping[str, Any], where: str) -> None:
    """Refuse parameters TiledWriter does not read, naming them.

    Raises
    ------
    ExternalDataError
        Naming ``where`` and the unknown parameter(s): their frames are not
        read rather than read with the parameter ignored.
    """
    unknown = sorted(str(name)[:100] for name in parameters if name not in KNOWN_PARAMETERS)
    if unknown:
        raise ExternalDataError(
            f"{where}: unknown parameter(s) {', '.join(map(repr, unknown))}: not among those "
            f"TiledWriter reads ({', '.join(sorted(KNOWN_PARAMETERS))}); its frames are not "
            "read rather than read with the parameter ignored")


def _flag(parameters: Mapping[str, Any], name: str, where: str, default: bool) -> bool:
    value = parameters.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise MalformedReferenceError(f"{where}: {name}={value!r} is not true or false; refused")
    return value


def check_flags(parameters: Mapping[str, Any], where: str) -> None:
    """Check the boolean parameters and ``locking`` (a bool, None or ``"best-effort"``)."""
    for name in ("squeeze", "swmr", "join_chunks"):
        _flag(parameters, name, where, False)
    locking = parameters.get("locking")
    if locking is not None and not isinstance(locking, bool) and locking != "best-effort":
        raise MalformedReferenceError(
            f"{where}: locking={str(locking)[:100]!r} is not true, false, null or "
            "'best-effort'; refused")
    if parameters.get("slice") not in (None, False, ""):
        parse_slice(parameters["slice"], where)


def squeeze_of(parameters: Mapping[str, Any], where: str) -> bool:
    """The ``squeeze`` parameter (default false)."""
    return _flag(parameters, "squeeze", where, False)


def swmr_of(parameters: Mapping[str, Any], where: str) -> bool:
    """The ``swmr`` parameter (TiledWriter's default: true)."""
    return _flag(parameters, "swmr", where, True)


def _slice_item(text: str, where: str) -> slice | int | None:
    text = text.strip()
    if text == "...":
        return None  # Ellipsis, placed by the caller
    parts = text.split(":")
    if len(parts) == 1:
        if not _INDEX.fullmatch(text):
            raise MalformedReferenceError(f"{where}: slice item {text[:50]!r} is not an index")
        return int(text)
    if len(parts) > 3:
        raise MalformedReferenceError(f"{where}: slice item {text[:50]!r} has too many ':'")
    bounds: list[int | None] = []
    for part in parts:
        part = part.strip()
        if part and not _INDEX.fullmatch(part):
            raise MalformedReferenceError(f"{where}: slice item {text[:50]!r} is not "
                                          "start:stop:step of integers")
        bounds.append(int(part) if part else None)
    while len(bounds) < 3:
        bounds.append(None)
    if bounds[2] is not None and bounds[2] <= 0:
        raise MalformedReferenceError(f"{where}: slice item {text[:50]!r} has a step that is "
                                      "not positive (HDF5 reads forward only); refused")
    return slice(bounds[0], bounds[1], bounds[2])


def parse_slice(value: Any, where: str) -> tuple[Any, ...]:
    """Parse the ``slice`` parameter (``":,5,:"``, ``"...,0:10"``) into an index tuple.

    Items are integers, ``start:stop:step`` with a positive step, or one
    ``...``; at most 32 items and :data:`MAX_SLICE_LENGTH` characters.

    Raises
    ------
    MalformedReferenceError
        Naming ``where`` and the value.
    """
    if not isinstance(value, str) or len(value) > MAX_SLICE_LENGTH:
        shown = value[:50] if isinstance(value, str) else type(value).__name__
        raise MalformedReferenceError(
            f"{where}: slice {shown!r} is not a text index of at most {MAX_SLICE_LENGTH} "
            "characters (as ':,5,:'); refused")
    text = value.strip().strip("()[]")
    items = [item for item in text.split(",")] if text.strip() else []
    if items and not items[-1].strip():
        items.pop()  # a trailing comma, as in "5,"
    if len(items) > 32:
        raise MalformedReferenceError(f"{where}: slice {value[:50]!r} has more than 32 items")
    out: list[Any] = []
    for item in items:
        parsed = _slice_item(item, where)
        out.append(Ellipsis if parsed is None else parsed)
    if out.count(Ellipsis) > 1:
        raise MalformedReferenceError(f"{where}: slice {value[:50]!r} has more than one '...'")
    return tuple(out)


def frames_per_file(declared: Sequence[int], parameters: Mapping[str, Any]) -> int:
    """How many frames each file of a multipart sequence holds, as TiledWriter derives it.

    1 means a file is one frame (or one whole event); more means the file's
    first axis holds that many frames.
    """
    datum = _datum_shape(declared, parameters)
    chunk = tuple(parameters.get("chunk_shape") or (1,))
    files = parameters.get("files_per_datum")
    if not datum:
        return 1
    if isinstance(files, int) and not isinstance(files, bool) and files > 0:
        return max(datum[0] // files, 1)
    if (parameters.get("join_method") or "stack") == "concat":
        return chunk[0] if datum[0] % chunk[0] == 0 else datum[0]
    if multiplier_of(parameters):
        return 1
    if len(chunk) == len(datum) and chunk[1:] == datum[1:] and datum[0] % chunk[0] == 0:
        return int(chunk[0])
    return 1


def event_shape(declared: Sequence[int], parameters: Mapping[str, Any]) -> tuple[int, ...]:
    """The shape of one event's data under ``parameters``, as TiledWriter gives it.

    Parameters
    ----------
    declared : sequence of int
        The descriptor's ``shape`` for the key.
    parameters : mapping
        The stream resource's parameters (or a resource's ``resource_kwargs``).

    Returns
    -------
    tuple of int
        TiledWriter's ``datum_shape`` (a declared ``[1]`` kept: the read side
        serves it as the scalar TiledWriter serves); with ``join_method="concat"`` and a
        first axis of 1, that axis is dropped (events are rows of the joined
        array). With ``concat`` and a first axis ``n > 1`` each event keeps its
        ``n`` rows (TiledWriter then serves ``n`` rows per event in one axis).
    """
    shape = _datum_shape(declared, parameters, collapse=False)
    if parameters.get("join_method") == "concat" and shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def rows_per_event(shape: tuple[int, ...], row: tuple[int, ...], where: str) -> int:
    """How many rows of the file's data one event of ``shape`` takes.

    The event's shape must end with the row's (leading 1s of the row
    ignored); its remaining leading sizes multiply to the number of rows.

    Raises
    ------
    FrameShapeError
        The row does not fit the event shape.
    """
    frame = row
    while frame and frame[0] == 1:
        frame = frame[1:]
    lead = len(shape) - len(frame)
    if lead < 0 or shape[lead:] != frame or math.prod(shape[:lead]) < 1:
        raise FrameShapeError(
            f"{where}: declared per-event shape {list(shape)} (with the parameters, as "
            f"TiledWriter reads them) does not match the file's frame shape {list(row)}")
    return math.prod(shape[:lead])
