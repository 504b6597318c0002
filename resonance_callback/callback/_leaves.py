"""Walking an event value's nested lists without recursion, bounded by what arrived."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["is_text", "more_elements"]


def more_elements(value: list[Any], limit: int) -> bool:
    """Whether nested lists hold more than ``limit`` elements (counted up to ``limit + 1``).

    Lists count too once there are more than ``16 * limit`` of them, so a list
    that holds itself (or a chain of empty lists) ends the count rather than looping
    (nesting the encoder cannot take is left to it: it names the key).
    """
    count, lists, todo = 0, 0, [value]
    while todo:
        for item in todo.pop():
            if type(item) is list:
                todo.append(item)
                lists += 1
            else:
                count += 1
            if count > limit or lists > 16 * limit:
                return True
    return False


def is_text(value: Any) -> bool:
    """Whether an array value is text: a numpy string array, or lists of strings only.

    Numbers mixed with strings (which numpy would turn into strings) are not: such a
    frame stays refused as not numbers. Called on a value already made an array, so
    its elements are bounded by the key's frame shape.
    """
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "US"
    todo = [value]
    while todo:
        for item in todo.pop():
            if type(item) is list or type(item) is tuple:
                todo.append(item)
            elif not isinstance(item, str):
                return False
    return True
