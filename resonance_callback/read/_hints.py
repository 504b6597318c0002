"""Which fields a run's hints name: what BestEffortCallback would plot for a stored stream.

Shared by the plot (its y fields and x axes) and the NeXus export (the default
plot's signal and axes).

bluesky's ``BestEffortCallback`` takes the dependent fields from the descriptors'
hints (for each object, ``hints[obj]["fields"]``, else all its fields) minus the
independent ones, and the independent ones (the dimensions) from the start
document's ``hints.dimensions``: the first field of each dimension, when they are all
in one stream; else (no hint, or dimensions in several streams) the start's
``motors``, else ``time``. A stream other than the dimensions' one (the
baseline) is drawn against ``time``, all its hinted fields dependent. These
functions repeat those rules on stored documents, which may be malformed:
anything not shaped as the rules expect counts as absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["StreamHints", "stream_hints"]


@dataclass(frozen=True)
class StreamHints:
    """The fields BestEffortCallback would draw for one stream.

    ``ys`` are the hinted dependent fields, ``dims`` the independent ones it plots
    against (one per dimension; ``["time"]`` off the dimensions' stream), and
    ``all_dims`` every field the dimensions name.
    """

    ys: list[str]
    dims: list[str]
    all_dims: list[str]


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        return []
    return [v for v in value if isinstance(v, str)]


def _hinted(descriptor: dict[str, Any]) -> list[str]:
    """``bluesky.callbacks.best_effort.hinted_fields`` of one descriptor."""
    objects = descriptor.get("object_keys")
    hints = descriptor.get("hints")
    hints = hints if isinstance(hints, dict) else {}
    fields: list[str] = []
    for name, keys in (objects.items() if isinstance(objects, dict) else []):
        hint = hints.get(name)
        chosen = hint.get("fields") if isinstance(hint, dict) and "fields" in hint else keys
        fields.extend(_strings(chosen))
    return fields


def _dimensions(start: dict[str, Any]) -> tuple[list[tuple[list[str], str]], bool]:
    """The start's dimensions as ``[(fields, stream)]``, and whether they are a guess."""
    hints = start.get("hints")
    hinted = hints.get("dimensions") if isinstance(hints, dict) else None
    dims: list[tuple[list[str], str]] = []
    if isinstance(hinted, list | tuple):
        for dim in hinted:
            if (isinstance(dim, list | tuple) and len(dim) == 2 and isinstance(dim[1], str)
                    and isinstance(dim[0], list | tuple)):
                dims.append((_strings(dim[0]), dim[1]))
    if dims and len({stream for _, stream in dims}) == 1:
        return dims, False
    motors = _strings(start.get("motors"))
    return ([([m], "primary") for m in motors] if motors else [(["time"], "primary")]), True


def stream_hints(start: dict[str, Any], stream: str,
                 descriptors: Sequence[dict[str, Any]]) -> StreamHints:
    """Return what BestEffortCallback would plot for ``stream``.

    Parameters
    ----------
    start : dict
        The run's start document.
    stream : str
        The stream.
    descriptors : sequence of dict
        The stream's descriptors (their hints are joined, in order).

    Returns
    -------
    StreamHints
    """
    dims, guessed = _dimensions(start)
    dim_fields = [fields[0] if fields else "time" for fields, _ in dims]
    all_dims = [f for fields, _ in dims for f in fields]
    if guessed and descriptors:
        # The guess names objects (motors): their hinted fields are the axes.
        first = descriptors[0]
        hints, objects = first.get("hints"), first.get("object_keys")
        hints = hints if isinstance(hints, dict) else {}
        objects = objects if isinstance(objects, dict) else {}
        fixed: list[str] = []
        for name in dim_fields:
            hint = hints.get(name)
            fields = _strings(hint.get("fields") if isinstance(hint, dict) else None)
            fixed.extend(["time"] if name == "time" else fields or _strings(objects.get(name)))
        dim_fields, all_dims = fixed, [*all_dims, *fixed]
    on_dims = dims[0][1] == stream
    independent = all_dims if on_dims else []
    ys: list[str] = []
    for descriptor in descriptors:
        ys.extend(f for f in _hinted(descriptor) if f not in ys and f not in independent)
    return StreamHints(ys=ys, dims=dim_fields if on_dims else ["time"], all_dims=all_dims)
