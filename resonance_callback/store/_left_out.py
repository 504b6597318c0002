"""What of a document's content the JSON encoder cannot take, left out so the rest is stored.

A start document (or a descriptor) is stored as JSON by
:func:`~resonance_callback.jsoncodec.dumps`, which takes nearly anything (sets,
bytes, numpy values, objects as their ``repr``). What it cannot take: a
dictionary key that is no string, number, bool or None (a tuple, bytes, an
object), nesting deeper than :data:`~resonance_callback.jsoncodec.MAX_DEPTH`
(a reference cycle among them), an object whose ``repr`` raises. Rather than lose
the whole document (and with a start, every document of its run),
:func:`leave_out_unencodable` returns it with those parts left out: a dict
member is dropped, a list element becomes ``None`` (so positions are kept), a
part nested too deep is dropped where the limit is reached. It says what it
left out, by path, and why.

Time and memory are linear in the size of the content: one walk, each plain
value looked at once, paths formatted only for what is left out (at most
:data:`MAX_NOTED` of them named).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resonance_callback import jsoncodec

__all__ = ["MAX_NOTED", "leave_out_unencodable"]

#: Parts left out that are named one by one; the rest are counted.
MAX_NOTED = 20

#: Values the encoder takes as they are, without a look.
_PLAIN = frozenset({str, int, float, bool, type(None)})

#: Key types JSON objects take (numbers and bools become their text, as ``json`` does).
_KEYS = frozenset({str, int, float, bool, type(None)})

_LEFT = object()  # a part left out


class _Walk:
    """One walk over a document's content, collecting what it leaves out."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.count = 0
        self.path: list[str] = []

    def note(self, why: str, last: str = "") -> None:
        """Count a part left out; name it (by path, and why) if fewer than the most named."""
        self.count += 1
        if len(self.notes) < MAX_NOTED:
            path = self.path
            if len(path) > 8:  # deep: the first and last steps
                shown = f"{''.join(path[:4])}...({len(path) - 6} levels)...{''.join(path[-2:])}"
            else:
                shown = "".join(path)
            self.notes.append(f"{shown}{last} ({why})")

    def value(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind in _PLAIN:
            return value
        if isinstance(value, dict | list | tuple):
            if depth >= jsoncodec.MAX_DEPTH:
                self.note(f"nested deeper than {jsoncodec.MAX_DEPTH} levels")
                return _LEFT
            if isinstance(value, dict):
                return self.members(value, depth + 1)
            return self.elements(value, depth + 1)
        try:
            jsoncodec.dumps(value)
        except Exception as exc:  # noqa: BLE001 - any failure of the encoder: this part goes
            self.note(f"{type(exc).__name__}: {exc}")
            return _LEFT
        return value

    def members(self, value: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        path = self.path
        for key, member in value.items():
            if type(key) not in _KEYS:
                self.note(f"a key of type {type(key).__name__} cannot be a JSON key",
                          f"[<{type(key).__name__} key>]")
                continue
            if type(key) is str and key.isidentifier():
                path.append(f".{key}" if path else key)
            else:
                path.append(f"[{key!r}]")
            kept = self.value(member, depth)
            path.pop()
            if kept is not _LEFT:
                out[key] = kept
        return out

    def elements(self, value: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
        out: list[Any] = []
        path = self.path
        for index, element in enumerate(value):
            if type(element) in _PLAIN:
                out.append(element)
                continue
            path.append(f"[{index}]")
            kept = self.value(element, depth)
            path.pop()
            out.append(None if kept is _LEFT else kept)
        return out


def leave_out_unencodable(content: Mapping[str, object]
                          ) -> tuple[dict[str, Any], str | None]:
    """Return ``content`` without the parts the JSON encoder cannot take, and what they were.

    Parameters
    ----------
    content : Mapping
        A document (or a part of one: a descriptor's ``data_keys``).

    Returns
    -------
    kept : dict
        A copy with those parts left out (containers are copied, values are not).
    left_out : str or None
        The parts left out, by path (``md.calib[<tuple key>]``), with why; None
        when nothing was.
    """
    walk = _Walk()
    kept = walk.members(content, 1)
    if not walk.count:
        return kept, None
    more = walk.count - len(walk.notes)
    shown = "; ".join(walk.notes) + (f"; and {more} more" if more else "")
    return kept, shown
