"""Documents captured when they are received: what is stored is what was emitted then.

The RunEngine hands every subscriber the same dicts. The callback stores a
document later, on the writer thread, so a subscriber registered after ours
that changes a document in place (adds a key to the start, fixes a
descriptor's units, rescales an event's value) would change what we store.
So each document is captured on the caller's thread before the callback
returns:

* ``start``, ``descriptor``, ``stop`` and the detector-file documents
  (``resource``, ``datum``, ``datum_page``, ``stream_resource``,
  ``stream_datum``) are small and come once per run, stream or file: each is
  copied whole (:func:`capture`), numpy arrays included;
* an event (the hot path) gets new ``data``, ``timestamps`` and ``filled``
  dicts; its values are numbers and strings, which cannot change, except
  lists and arrays, which are copied (:func:`capture_event`). Frames are
  copied by the storage plan (:mod:`~resonance_callback.callback._copies`).
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar, cast

import numpy as np
from event_model.documents import Event

__all__ = ["IMMUTABLE", "capture", "capture_event", "own_data", "own_values"]

T = TypeVar("T")

#: Types whose values cannot change: shared, never copied.
IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes, complex})


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind in IMMUTABLE:
        return value
    if kind is dict:
        return {key: item if type(item) in IMMUTABLE else _copy(item)
                for key, item in value.items()}
    if kind is list:
        return [item if type(item) in IMMUTABLE else _copy(item) for item in value]
    if kind is tuple:
        return tuple([item if type(item) in IMMUTABLE else _copy(item) for item in value])
    if kind is np.ndarray:
        return value.copy()
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001 - an object that cannot be copied is kept as it is
        return value


def capture(doc: T) -> T:
    """Return a private copy of a (small) document, as it is now.

    Dicts, lists and tuples are copied all the way down, numpy arrays are
    copied, other objects go through :func:`copy.deepcopy`; one that cannot be
    copied is kept as it is. A document nested too deep to copy this way (or
    holding a cycle) is copied by :func:`copy.deepcopy`, or kept as it is when
    even that fails (the store then leaves out or rejects what it cannot encode).

    Parameters
    ----------
    doc : object
        The document as received.

    Returns
    -------
    object
        A copy sharing only values that cannot change (of ``doc``'s type: dicts,
        lists and tuples are copied as such, other objects by ``deepcopy``).
    """
    try:
        return cast(T, _copy(doc))
    except RecursionError:
        try:
            return copy.deepcopy(doc)
        except Exception:  # noqa: BLE001 - too deep even for deepcopy: as it is
            return doc


def own_values(values: dict[str, Any]) -> dict[str, Any]:
    """Copy, in place, the values of ``values`` that could change (lists, dicts, arrays).

    Parameters
    ----------
    values : dict
        A dict of the callback's own (an event's inline values).

    Returns
    -------
    dict
        ``values`` itself.
    """
    for key, value in values.items():
        kind = type(value)
        if kind in IMMUTABLE:
            continue
        if kind is list:  # the common case: a short list of numbers
            own = value.copy()
            for item in own:
                if type(item) not in IMMUTABLE:
                    own = capture(value)
                    break
            values[key] = own
        else:
            values[key] = capture(value)
    return values


def own_data(data: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    """A copy of an event's ``data``: values that could change taken from ``kept`` or copied.

    Parameters
    ----------
    data : dict
        ``doc["data"]`` as received.
    kept : dict
        Copies the callback already made of some values (inline values, frames), by key.

    Returns
    -------
    dict
        A new dict sharing only values that cannot change.
    """
    own = dict(data)
    for key, value in own.items():
        if type(value) not in IMMUTABLE:
            own[key] = kept[key] if key in kept else capture(value)
    return own


def capture_event(doc: Event, data: dict[str, Any], stamps: dict[str, Any]) -> Event:
    """Return the event with ``data`` (our own copy) and its own ``timestamps`` and ``filled``.

    Parameters
    ----------
    doc : Event
        The event as received (its keys checked by the caller).
    data : dict
        The callback's own copy of ``doc["data"]`` (:func:`own_values`, :func:`own_data`).
    stamps : dict
        ``doc["timestamps"]`` (``{}`` if it has none), checked to be a dict.

    Returns
    -------
    Event
        A new event dict; the caller's ``doc`` is not changed.
    """
    event: Event = {**doc, "data": data}
    if "timestamps" in doc:
        event["timestamps"] = dict(stamps)
    filled = doc.get("filled")
    if type(filled) is dict:
        event["filled"] = dict(filled)
    return event
