"""``ExternalResolver``: resource/datum and stream_resource/stream_datum documents to arrays."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
from event_model import unpack_datum_page

from resonance_callback.errors import ExternalDataError, UnsafePathError
from resonance_callback.external._common import (
    _T,
    HDF5_MIMETYPE,
    SUPPORTED_MIMETYPES,
    TIFF_MIMETYPE,
    HandlerClass,
    _is_within,
    _refuse_traversal,
)
from resonance_callback.external._handlers import DEFAULT_HANDLERS
from resonance_callback.external._sources import (
    _fixed_shape,
    _frames_per_event,
    _FrameSource,
    _HDF5Source,
    _ImageSequenceSource,
    _load_jpeg,
    _load_tiff,
)

# --------------------------------------------------------------------------- resolver


@dataclass(frozen=True)
class StreamFrames:
    """The data one ``stream_datum`` document refers to.

    Attributes
    ----------
    data_key : str
        The descriptor data key the frames belong to.
    descriptor : str
        The uid of the event descriptor.
    seq_nums : range
        The event ``seq_num`` of each row of ``array``, in order.
    indices : range
        The event indices within the stream resource (``stream_datum["indices"]``).
    array : numpy.ndarray
        ``(len(seq_nums), *declared_per_event_shape)``, dtype as in the file.
    """

    data_key: str
    descriptor: str
    seq_nums: range
    indices: range
    array: np.ndarray


@dataclass
class _Resource:
    uid: str
    spec: str
    path: str
    kwargs: dict[str, Any]
    run_start: str | None
    datum_ids: list[str] = field(default_factory=list)


@dataclass
class _StreamResource:
    uid: str
    data_key: str
    mimetype: str
    path: Path
    parameters: dict[str, Any]
    run_start: str | None


def _normalise_mimetype(mimetype: str) -> str:
    return ";".join(part.strip() for part in mimetype.split(";")).lower()


def _map_prefix(path: str, root_map: Mapping[str, str]) -> str:
    """Apply the longest ``root_map`` prefix matching ``path`` at a component boundary."""
    best: tuple[str, str] | None = None
    for old, new in root_map.items():
        if not old:
            continue
        key = old.rstrip("/") or old
        matches = path == key or path.startswith(key if key.endswith("/") else key + "/")
        if matches and (best is None or len(key) > len(best[0])):
            best = (key, new)
    if best is None:
        return path
    key, new = best
    rest = path[len(key) :].lstrip("/")
    return os.path.join(new, rest) if rest else new


class ExternalResolver:
    """Resolve resource/datum and stream_resource/stream_datum documents to arrays.

    Feed it the documents of a run as they arrive (``add_resource``,
    ``add_datum``, ``add_datum_page``, ``add_stream_resource``), then read with
    :meth:`fill` (v1 datum id) or :meth:`read_stream_datum`. Per-run state is
    dropped with :meth:`forget_run`. Not thread-safe.

    Parameters
    ----------
    handler_registry : mapping of str to handler class, optional
        Extra or overriding handlers, ``{spec: cls}``; merged over
        :data:`DEFAULT_HANDLERS`.
    root_map : mapping of str to str, optional
        ``{old_prefix: new_prefix}`` applied to resource paths and URI paths.
    base_dir : path-like, optional
        Directory that relative paths resolve against; default the current
        working directory at construction.
    allowed_roots : iterable of path-like, optional
        If given, every file must lie (symlinks resolved) under one of these,
        a ``root_map`` target or ``base_dir``. ``None`` (default) skips this
        containment check; traversal, scheme and host checks always apply.
    timeout : float, optional
        Default seconds a read waits for a file to become readable (5.0).
    poll_interval : float, optional
        Seconds between attempts while waiting (0.05).
    """

    def __init__(
        self,
        handler_registry: Mapping[str, HandlerClass] | None = None,
        *,
        root_map: Mapping[str, str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        allowed_roots: Iterable[str | os.PathLike[str]] | None = None,
        timeout: float = 5.0,
        poll_interval: float = 0.05,
    ) -> None:
        if timeout < 0 or poll_interval <= 0:
            raise ValueError(
                f"timeout must be >= 0 and poll_interval > 0, got {timeout}, {poll_interval}"
            )
        self._handler_classes: dict[str, HandlerClass] = {
            **DEFAULT_HANDLERS,
            **(handler_registry or {}),
        }
        self._root_map: dict[str, str] = dict(root_map or {})
        self._base_dir = Path(base_dir if base_dir is not None else Path.cwd()).absolute()
        self._allowed_roots = self._trusted_roots(allowed_roots)
        self.timeout = float(timeout)
        self.poll_interval = float(poll_interval)
        self._resources: dict[str, _Resource] = {}
        self._datums: dict[str, tuple[str, dict[str, Any]]] = {}
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._stream_resources: dict[str, _StreamResource] = {}

    # ----------------------------------------------------------------- configuration

    @property
    def root_map(self) -> Mapping[str, str]:
        """The ``{old_prefix: new_prefix}`` map (read-only view)."""
        return MappingProxyType(self._root_map)

    @property
    def base_dir(self) -> Path:
        """The absolute directory relative paths resolve against."""
        return self._base_dir

    @property
    def allowed_roots(self) -> tuple[Path, ...] | None:
        """The resolved roots every file must lie under, or None for no containment check."""
        return self._allowed_roots

    @property
    def handler_registry(self) -> Mapping[str, HandlerClass]:
        """The handler classes in use, spec -> class (read-only view)."""
        return MappingProxyType(self._handler_classes)

    def register_handler(self, spec: str, handler_class: HandlerClass) -> None:
        """Add or replace the handler class for ``spec``.

        Resources already registered keep a handler they have already built.

        Parameters
        ----------
        spec : str
            The resource ``spec`` the class reads.
        handler_class : HandlerClass
            ``cls(resource_path, **resource_kwargs)(**datum_kwargs) -> array``.
        """
        self._handler_classes[spec] = handler_class

    def _trusted_roots(
        self, allowed_roots: Iterable[str | os.PathLike[str]] | None
    ) -> tuple[Path, ...] | None:
        if allowed_roots is None:
            return None
        roots = [*allowed_roots, *self._root_map.values(), self._base_dir]
        return tuple(Path(os.path.realpath(self._base_dir / Path(root))) for root in roots)

    # ----------------------------------------------------------------- path checks

    def _check_allowed(self, path: Path) -> None:
        """Refuse ``path`` unless it lies under an allowed root (when configured)."""
        if self._allowed_roots is None:
            return
        real = Path(os.path.realpath(path))
        if not any(_is_within(real, root) for root in self._allowed_roots):
            allowed = ", ".join(str(root) for root in self._allowed_roots)
            raise UnsafePathError(f"path {str(path)!r} is outside the allowed roots ({allowed})")

    def _finish_path(self, path: str, what: str) -> Path:
        """Map, anchor at ``base_dir``, normalise and containment-check a raw path."""
        mapped = _map_prefix(path, self._root_map)
        _refuse_traversal(mapped, f"{what} (after root_map)")
        resolved = Path(os.path.normpath(self._base_dir / mapped))
        self._check_allowed(resolved)
        return resolved

    def _resource_path(self, doc: Mapping[str, Any]) -> Path:
        what = f"resource {doc['uid']}"
        root = str(doc.get("root") or "")
        resource_path = str(doc["resource_path"])
        _refuse_traversal(root, f"{what} root")
        _refuse_traversal(resource_path, f"{what} resource_path")
        if root and os.path.isabs(resource_path):
            raise UnsafePathError(
                f"{what}: absolute resource_path {resource_path!r} would escape root {root!r}"
            )
        joined = os.path.join(root, resource_path) if root else resource_path
        return self._finish_path(joined, what)

    def _uri_path(self, uri: str, what: str) -> Path:
        parts = urlsplit(uri)
        if parts.scheme.lower() != "file":
            raise UnsafePathError(f"{what}: URI {uri!r} has scheme {parts.scheme!r}, not 'file'")
        if parts.netloc.lower() not in ("", "localhost"):
            raise UnsafePathError(
                f"{what}: URI {uri!r} names host {parts.netloc!r}; only local files are read"
            )
        if parts.query or parts.fragment:
            raise UnsafePathError(f"{what}: URI {uri!r} has a query or fragment; refused")
        path = unquote(parts.path)
        _refuse_traversal(path, f"{what} URI {uri!r}")
        if not path.startswith("/"):
            raise UnsafePathError(f"{what}: URI {uri!r} has no absolute path")
        return self._finish_path(path, what)

    # ----------------------------------------------------------------- waiting

    def _with_retry(self, what: str, attempt: Callable[[], _T], wait: float | None) -> _T:
        """Call ``attempt`` until it succeeds or ``wait`` seconds have passed."""
        budget = self.timeout if wait is None else max(0.0, float(wait))
        deadline = time.monotonic() + budget
        while True:
            try:
                return attempt()
            except ExternalDataError:
                raise
            except Exception as exc:  # not readable yet: retry until the deadline
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ExternalDataError(
                        f"{what}: not readable after waiting {budget:g} s: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                time.sleep(min(self.poll_interval, remaining))

    # ----------------------------------------------------------------- ophyd v1

    def add_resource(self, doc: Mapping[str, Any], *, run_start: str | None = None) -> None:
        """Register a ``resource`` document; its path is checked, nothing is opened.

        Parameters
        ----------
        doc : mapping
            The resource document.
        run_start : str, optional
            The run it belongs to, for documents without a ``run_start`` field.

        Raises
        ------
        UnsafePathError
            The path is refused (see the module documentation).
        ExternalDataError
            No handler is registered for the document's ``spec``.
        """
        uid, spec = doc["uid"], doc["spec"]
        if spec not in self._handler_classes:
            raise ExternalDataError(
                f"resource {uid}: no handler for spec {spec!r} "
                f"(known: {', '.join(sorted(self._handler_classes))})"
            )
        path = self._resource_path(doc)
        self._resources[uid] = _Resource(
            uid=uid,
            spec=spec,
            path=str(path),
            kwargs=dict(doc.get("resource_kwargs") or {}),
            run_start=doc.get("run_start", run_start),
        )

    def add_datum(self, doc: Mapping[str, Any]) -> None:
        """Register a ``datum`` document.

        Parameters
        ----------
        doc : mapping
            The datum document.

        Raises
        ------
        ExternalDataError
            Its resource was never registered (or was refused).
        """
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
        """Register every datum of a ``datum_page`` document.

        Parameters
        ----------
        doc : mapping
            The datum_page document.
        """
        for datum in unpack_datum_page(doc):
            self.add_datum(datum)

    def _handler(self, resource: _Resource) -> Callable[..., Any]:
        if resource.uid not in self._handlers:
            handler_class = self._handler_classes[resource.spec]
            self._handlers[resource.uid] = handler_class(resource.path, **resource.kwargs)
        return self._handlers[resource.uid]

    def fill(self, datum_id: str, *, wait: float | None = None) -> np.ndarray:
        """Return the array a datum id refers to.

        Parameters
        ----------
        datum_id : str
            The id found in an event's ``data`` for an external key.
        wait : float, optional
            Seconds to keep retrying an unreadable file; default ``timeout``,
            0 for a single attempt.

        Returns
        -------
        numpy.ndarray
            What the spec's handler returns, dtype unchanged.

        Raises
        ------
        ExternalDataError
            Unknown datum, or the file is still unreadable after ``wait``.
        """
        if datum_id not in self._datums:
            raise ExternalDataError(f"unknown datum {datum_id}")
        resource_uid, kwargs = self._datums[datum_id]
        resource = self._resources[resource_uid]
        what = (
            f"datum {datum_id} (resource {resource_uid}, spec {resource.spec}, "
            f"path {resource.path})"
        )
        return self._with_retry(what, lambda: np.asarray(self._handler(resource)(**kwargs)), wait)

    # ----------------------------------------------------------------- ophyd-async

    def add_stream_resource(self, doc: Mapping[str, Any], *, run_start: str | None = None) -> None:
        """Register a ``stream_resource`` document; its URI is checked, nothing is opened.

        Parameters
        ----------
        doc : mapping
            The stream_resource document.
        run_start : str, optional
            The run it belongs to, for documents without a ``run_start`` field.

        Raises
        ------
        UnsafePathError
            The URI is refused (see the module documentation).
        ExternalDataError
            The mimetype is not supported, or a parameter it needs is missing.
        """
        uid = doc["uid"]
        mimetype = _normalise_mimetype(str(doc["mimetype"]))
        if mimetype not in SUPPORTED_MIMETYPES:
            raise ExternalDataError(
                f"stream_resource {uid}: mimetype {doc['mimetype']!r} is not supported "
                f"(supported: {', '.join(sorted(SUPPORTED_MIMETYPES))})"
            )
        parameters = dict(doc.get("parameters") or {})
        if "uri" not in doc:
            raise ExternalDataError(
                f"stream_resource {uid} has no 'uri' (documents from event-model < 1.20, "
                "with root/resource_path, are not supported)"
            )
        needed = "dataset" if mimetype == HDF5_MIMETYPE else "template"
        if needed not in parameters:
            raise ExternalDataError(
                f"stream_resource {uid}: mimetype {mimetype} needs parameters.{needed}"
            )
        self._stream_resources[uid] = _StreamResource(
            uid=uid,
            data_key=doc["data_key"],
            mimetype=mimetype,
            path=self._uri_path(str(doc["uri"]), f"stream_resource {uid}"),
            parameters=parameters,
            run_start=doc.get("run_start", run_start),
        )

    def _open_source(self, resource: _StreamResource) -> _FrameSource:
        if resource.mimetype == HDF5_MIMETYPE:
            return _HDF5Source(resource.path, resource.parameters)
        load = _load_tiff if resource.mimetype == TIFF_MIMETYPE else _load_jpeg
        return _ImageSequenceSource(resource.path, resource.parameters, load, self._check_allowed)

    def _read_events(
        self, resource: _StreamResource, shape: Sequence[int | None], events: range
    ) -> np.ndarray:
        where = f"stream_resource {resource.uid} data_key {resource.data_key!r}"
        per_event_shape = _fixed_shape(shape, where)
        source = self._open_source(resource)
        try:
            frame_shape, _ = source.frame_info(events.start)
            per_event = _frames_per_event(per_event_shape, frame_shape, where)
            frames = source.read(events.start * per_event, events.stop * per_event)
        finally:
            source.close()
        return frames.reshape((len(events), *per_event_shape))

    def read_stream_datum(
        self,
        doc: Mapping[str, Any],
        descriptor_data_key_shape: Sequence[int | None],
        *,
        wait: float | None = None,
    ) -> StreamFrames:
        """Return the events' data a ``stream_datum`` document refers to.

        Parameters
        ----------
        doc : mapping
            The stream_datum document.
        descriptor_data_key_shape : sequence of int
            ``descriptor["data_keys"][data_key]["shape"]``: the per-event shape,
            kept as declared (``[1, H, W]``, ``[H, W]``, ``[]``, ...).
        wait : float, optional
            Seconds to keep retrying unreadable files; default ``timeout``,
            0 for a single attempt.

        Returns
        -------
        StreamFrames
            ``array`` is ``(n_events, *descriptor_data_key_shape)`` with the
            file's dtype.

        Raises
        ------
        ExternalDataError
            Unknown stream_resource, inconsistent ranges, a per-event shape the
            file cannot provide, or files still unreadable after ``wait``.
        """
        resource = self._stream_resources.get(doc["stream_resource"])
        if resource is None:
            raise ExternalDataError(
                f"stream_datum {doc['uid']} refers to unknown stream_resource "
                f"{doc['stream_resource']}"
            )
        indices = range(doc["indices"]["start"], doc["indices"]["stop"])
        seq_nums = range(doc["seq_nums"]["start"], doc["seq_nums"]["stop"])
        if len(indices) != len(seq_nums) or indices.start < 0:
            raise ExternalDataError(
                f"stream_datum {doc['uid']}: indices {doc['indices']} and seq_nums "
                f"{doc['seq_nums']} do not describe the same events"
            )
        what = f"stream_datum {doc['uid']} ({resource.mimetype} at {resource.path})"
        array = self._with_retry(
            what, lambda: self._read_events(resource, descriptor_data_key_shape, indices), wait
        )
        return StreamFrames(
            data_key=resource.data_key,
            descriptor=doc["descriptor"],
            seq_nums=seq_nums,
            indices=indices,
            array=array,
        )

    # ----------------------------------------------------------------- lifetime

    def forget_run(self, run_start_uid: str) -> None:
        """Drop every resource, datum, handler and stream_resource of a run.

        Handlers with a ``close()`` method are closed.

        Parameters
        ----------
        run_start_uid : str
            The uid of the run's start document.
        """
        for uid in [u for u, r in self._resources.items() if r.run_start == run_start_uid]:
            self._drop_resource(uid)
        for uid in [u for u, r in self._stream_resources.items() if r.run_start == run_start_uid]:
            del self._stream_resources[uid]

    def _drop_resource(self, uid: str) -> None:
        resource = self._resources.pop(uid)
        for datum_id in resource.datum_ids:
            self._datums.pop(datum_id, None)
        handler = self._handlers.pop(uid, None)
        close = getattr(handler, "close", None)
        if callable(close):
            close()

    def close(self) -> None:
        """Drop all state of all runs, closing handlers that have ``close()``."""
        for uid in list(self._resources):
            self._drop_resource(uid)
        self._stream_resources.clear()

    def __enter__(self) -> ExternalResolver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

