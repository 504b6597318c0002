"""ophyd (v1) documents for the resolver: resources, datums and their handlers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from event_model import unpack_datum_page

from resonance_callback.errors import ExternalDataError
from resonance_callback.external._common import _with_retry
from resonance_callback.external._guard import _FileGuard
from resonance_callback.external._handlers import DEFAULT_HANDLERS
from resonance_callback.external._paths import _PathPolicy
from resonance_callback.external._registry import HandlerLookup, accepted
from resonance_callback.external._templates import check_parameters

if TYPE_CHECKING:
    from event_model.documents import DatumPage


#: TiledWriter's parameters a built-in handler need not take: they shape each event
#: (``ExternalResolver.fill``) or do not change what is read.
_SHAPING = frozenset({"chunk_shape", "join_method", "join_chunks", "spec", "multiplier",
                      "frame_per_point", "files_per_datum", "swmr", "locking"})


def _refuse_unread(handler_class: Callable[..., Any], kwargs: dict[str, Any],
                   where: str) -> None:
    """Refuse resource_kwargs a built-in handler would not read, naming them.

    A parameter that changes what is read (``slice``, ``squeeze``) or one
    nobody knows is never dropped silently: the resource's frames are
    recorded unresolved instead.
    """
    taken = set(accepted(handler_class, kwargs))
    unread = sorted(str(name)[:100] for name, value in kwargs.items()
                    if name not in taken and name not in _SHAPING
                    and not (name in ("slice", "squeeze") and value in (None, False, "")))
    if unread:
        raise ExternalDataError(
            f"{where}: parameter(s) {', '.join(map(repr, unread))} not read by the built-in "
            f"handler {getattr(handler_class, '__name__', handler_class)}; its frames are not "
            "read rather than read with them ignored")


@dataclass
class _Resource:
    uid: str
    spec: str
    handler_class: Callable[..., Any]
    path: str
    kwargs: dict[str, Any]
    run_start: str | None
    guard: _FileGuard
    datum_ids: list[str] = field(default_factory=list)


class _Datums:
    """The resources and datums of every open run, and the handlers built for them.

    Parameters
    ----------
    handlers : HandlerLookup
        The resolver's handler lookup, shared (a handler registered later is seen here).
    paths : _PathPolicy
        Checks a resource's path when it is registered.
    """

    def __init__(self, handlers: HandlerLookup, paths: _PathPolicy) -> None:
        self._lookup = handlers
        self._paths = paths
        self._resources: dict[str, _Resource] = {}
        self._datums: dict[str, tuple[str, dict[str, Any]]] = {}
        self._handlers: dict[str, Callable[..., Any]] = {}

    def add_resource(self, doc: Mapping[str, Any], run_start: str | None) -> None:
        """Check the parameters, spec and path of a ``resource`` document and remember it."""
        uid, spec = doc["uid"], doc["spec"]
        kwargs = dict(doc.get("resource_kwargs") or {})
        check_parameters(kwargs, f"resource {uid} (spec {spec})")
        handler_class = self._lookup.find(spec, f"resource {uid}")
        if handler_class in DEFAULT_HANDLERS.values():
            _refuse_unread(handler_class, kwargs, f"resource {uid} (spec {spec})")
        path, guard = self._paths.resource_path(doc)
        self._resources[uid] = _Resource(
            uid=uid,
            spec=spec,
            handler_class=handler_class,
            path=str(path),
            kwargs=kwargs,
            run_start=doc.get("run_start", run_start),
            guard=guard,
        )

    def add_datum(self, doc: Mapping[str, Any]) -> None:
        """Remember a ``datum`` document of a known resource."""
        resource = self._resources.get(doc["resource"])
        if resource is None:
            raise ExternalDataError(
                f"datum {doc['datum_id']} refers to unknown resource {doc['resource']}"
            )
        datum_id = doc["datum_id"]
        if datum_id not in self._datums:
            resource.datum_ids.append(datum_id)
        self._datums[datum_id] = (resource.uid, dict(doc.get("datum_kwargs") or {}))

    def add_datum_page(self, doc: Mapping[str, Any]) -> None:
        """Remember every datum of a ``datum_page`` document."""
        # A document from the wire: its keys are checked where add_datum uses them.
        for datum in unpack_datum_page(cast("DatumPage", doc)):
            self.add_datum(datum)

    def _handler(self, resource: _Resource) -> Callable[..., Any]:
        if resource.uid not in self._handlers:
            handler_class = resource.handler_class
            try:
                handler = handler_class(resource.path, **accepted(handler_class, resource.kwargs))
            except TypeError as exc:  # the resource lacks what the handler needs: permanent
                raise ExternalDataError(
                    f"resource {resource.uid}: spec {resource.spec!r} handler "
                    f"{getattr(handler_class, '__qualname__', handler_class)} refuses its "
                    f"resource_kwargs {sorted(resource.kwargs)}: {exc}") from exc
            if isinstance(getattr(handler, "guard", None), _FileGuard):  # a built-in's
                handler.guard = resource.guard
            self._handlers[resource.uid] = handler
        return self._handlers[resource.uid]

    def fill(self, datum_id: str, budget: float, poll_interval: float) -> np.ndarray:
        """Read the array of ``datum_id``, retrying for up to ``budget`` seconds."""
        if datum_id not in self._datums:
            raise ExternalDataError(f"unknown datum {datum_id}")
        resource_uid, kwargs = self._datums[datum_id]
        resource = self._resources[resource_uid]
        what = (
            f"datum {datum_id} (resource {resource_uid}, spec {resource.spec}, "
            f"path {resource.path})"
        )

        def read() -> np.ndarray:
            handler = self._handler(resource)
            try:
                return np.asarray(handler(**accepted(handler, kwargs)))
            except ExternalDataError:
                raise
            except Exception:  # not readable yet: the next try builds the handler afresh
                self._close_handler(resource.uid)  # (ecosystem handlers cache the file's length)
                raise

        return _with_retry(what, read, budget, poll_interval)

    def parameters_of(self, datum_id: str) -> dict[str, Any]:
        """The ``resource_kwargs`` of a datum's resource (empty for an unknown datum)."""
        entry = self._datums.get(datum_id)
        resource = self._resources.get(entry[0]) if entry is not None else None
        return dict(resource.kwargs) if resource is not None else {}

    def forget_run(self, run_start_uid: str) -> None:
        """Drop the resources, datums and handlers of one run."""
        for uid in [u for u, r in self._resources.items() if r.run_start == run_start_uid]:
            self._drop_resource(uid)

    def _drop_resource(self, uid: str) -> None:
        resource = self._resources.pop(uid)
        for datum_id in resource.datum_ids:
            self._datums.pop(datum_id, None)
        self._close_handler(uid)

    def _close_handler(self, uid: str) -> None:
        handler = self._handlers.pop(uid, None)
        close = getattr(handler, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - a handler failing to close costs nothing more
                pass

    def close(self) -> None:
        """Drop everything, closing handlers that have ``close()``."""
        for uid in list(self._resources):
            self._drop_resource(uid)
