"""TiledWriter's per-event shape of a detector-file field, from its declared shape and parameters.

Shared by the writer side (:mod:`resonance_callback.external`, which reads the
files) and the read side (:mod:`resonance_callback.read`, which serves what was
stored in the shape TiledWriter serves): both follow bluesky-tiled-plugins'
``ConsolidatorBase.datum_shape``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["datum_shape", "multiplier_of"]


def multiplier_of(parameters: Mapping[str, Any]) -> int | None:
    """``multiplier``, or ``frame_per_point`` as TiledWriter renames it (None if unset)."""
    value = parameters.get("frame_per_point") or parameters.get("multiplier")
    return int(value) if value else None


def datum_shape(declared: Sequence[int], parameters: Mapping[str, Any], *,
                collapse: bool = True) -> tuple[int, ...]:
    """TiledWriter's ``datum_shape``: the declared shape, ``join_method`` and ``multiplier``.

    A declared ``[1]`` under ``join_method="stack"`` is a scalar (``()``), unless
    ``collapse`` is False; ``multiplier`` ``m`` makes the first axis ``m`` (a
    leading 1 is replaced, another size gets ``m`` in front of it).
    """
    join = parameters.get("join_method") or "stack"
    shape = tuple(int(size) for size in declared)
    if shape == (1,) and join == "stack" and collapse:
        shape = ()
    multiplier = multiplier_of(parameters)
    if multiplier:
        shape = shape or (multiplier,)
        if shape[0] != multiplier:
            shape = (multiplier, *shape[1:]) if shape[0] == 1 else (multiplier, *shape)
    return shape
