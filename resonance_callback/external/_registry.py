"""Which handler reads a spec: ``handler_registry=``, the installed entry points, ours.

Handlers are found the way databroker finds them: every installed package may
offer handler classes in the ``databroker.handlers`` entry-point group
(``area-detector-handlers``, ophyd's ``NPY_SEQ``, a facility's own package).
The order, first match wins:

1. ``handler_registry=`` (the caller's, overriding everything);
2. an installed entry point for the spec, unless it is one of
   :data:`OURS_INSTEAD` (an ecosystem handler we read that spec better than);
3. our built-ins (:data:`~._handlers.DEFAULT_HANDLERS`).

A spec nobody reads is refused with a reason naming the spec and the
specs that are known.

Handlers are called with event-model's protocol,
``cls(path, **resource_kwargs)(**datum_kwargs)``. Documents written to bluesky's
TiledWriter convention carry parameters for Tiled (``chunk_shape``,
``join_method``, ``template``, ``swmr``, ...) that classic handlers do not take;
:func:`accepted` keeps only the keywords a callable accepts (all of them when it
takes ``**kwargs``), so such a handler is called with what it understands.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any

from resonance_callback.errors import ExternalDataError
from resonance_callback.external._common import HandlerClass

ENTRY_POINT_GROUP = "databroker.handlers"
"""The entry-point group installed packages offer handler classes in (as for databroker)."""

OURS_INSTEAD: Mapping[str, str] = MappingProxyType({
    "ophyd.sim:NumpySeqHandler":
        "takes no TiledWriter template, and reads outside the file guard",
    "area_detector_handlers.handlers:AreaDetectorTiffHandler":
        "needs a printf template and filename (fails on TiledWriter's resource_kwargs), "
        "and reads outside the file guard",
    "area_detector_handlers.handlers:AreaDetectorHDF5Handler":
        "ignores the resource's dataset, opens the file without SWMR and keeps it open, "
        "caching the dataset's length (frames written later are 'beyond the dataset')",
    "area_detector_handlers.handlers:AreaDetectorHDF5SWMRHandler":
        "ignores the resource's dataset and keeps the file open",
})
"""Entry points (``module:Class``) for whose specs our built-in handler is used instead, why."""


def installed_handlers() -> dict[str, EntryPoint]:
    """The ``databroker.handlers`` entry points installed now, spec -> entry point.

    Entry points listed in :data:`OURS_INSTEAD` are left out. When two
    packages offer the same spec, the first one found is kept.
    """
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.value.replace(" ", "") in OURS_INSTEAD:
            continue
        found.setdefault(point.name, point)
    return found


def accepted(target: Callable[..., Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords of ``kwargs`` that ``target`` accepts (all when it takes ``**kwargs``)."""
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # no signature to read: pass everything
        return dict(kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(kwargs)
    names = {p.name for p in parameters
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    return {key: value for key, value in kwargs.items() if key in names}


class HandlerLookup:
    """Find the handler class of a spec: the caller's, an installed one, or ours.

    Parameters
    ----------
    built_in : mapping of str to HandlerClass
        Our handlers.
    registry : mapping of str to HandlerClass, optional
        The caller's ``handler_registry=``, overriding everything.
    """

    def __init__(self, built_in: Mapping[str, HandlerClass],
                 registry: Mapping[str, HandlerClass] | None = None) -> None:
        self._built_in = dict(built_in)
        self._registry = dict(registry or {})
        self._loaded: dict[str, HandlerClass] = {}

    @functools.cached_property
    def _installed(self) -> dict[str, EntryPoint]:
        # Scanned at the first lookup, not at construction: reading every installed
        # distribution's entry points costs ~10 ms, and a scalar-only session (or a
        # replay of one) never looks a handler up.
        return installed_handlers()

    def register(self, spec: str, handler_class: HandlerClass) -> None:
        """Add or replace the caller's handler for ``spec``."""
        self._registry[spec] = handler_class

    def known(self) -> list[str]:
        """Every spec some handler reads, sorted."""
        return sorted({*self._registry, *self._installed, *self._built_in})

    def classes(self) -> dict[str, HandlerClass]:
        """The handler class of each spec whose class is at hand (installed ones once loaded)."""
        return {**self._built_in, **self._loaded, **self._registry}

    def find(self, spec: str, what: str) -> HandlerClass:
        """The handler class reading ``spec``.

        Raises
        ------
        ExternalDataError
            No handler reads ``spec``, or its entry point cannot be imported;
            the message starts with ``what``.
        """
        if spec in self._registry:
            return self._registry[spec]
        point = self._installed.get(spec)
        if point is not None:
            if spec not in self._loaded:
                try:
                    self._loaded[spec] = point.load()
                except Exception as exc:  # noqa: BLE001 - a broken plug-in costs its spec only
                    raise ExternalDataError(
                        f"{what}: the handler for spec {spec!r} ({ENTRY_POINT_GROUP} entry point "
                        f"{point.value}) cannot be imported: {type(exc).__name__}: {exc}"
                    ) from exc
            return self._loaded[spec]
        if spec in self._built_in:
            return self._built_in[spec]
        raise ExternalDataError(
            f"{what}: no handler for spec {spec!r} (known: {', '.join(self.known())}); "
            f"install a package offering it in the {ENTRY_POINT_GROUP!r} entry-point group "
            "(e.g. area-detector-handlers: pip install 'resonance-callback[handlers]') or pass "
            "handler_registry="
        )
