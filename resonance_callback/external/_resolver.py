"""``ExternalResolver``: resource/datum and stream_resource/stream_datum documents to arrays.

The resolver is the façade: its path policy is in ``_paths``, the ophyd (v1)
resources and datums in ``_datums``, the ophyd-async stream resources in
``_streams``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from resonance_callback.external._common import HandlerClass
from resonance_callback.external._datums import _Datums
from resonance_callback.external._guard import DEFAULT_MAX_RESOURCE_BYTES
from resonance_callback.external._handlers import DEFAULT_HANDLERS
from resonance_callback.external._paths import _PathPolicy
from resonance_callback.external._registry import HandlerLookup
from resonance_callback.external._shapes import event_shape
from resonance_callback.external._sources import fit_declared
from resonance_callback.external._streams import StreamFrames, _Streams


class ExternalResolver:
    """Resolve resource/datum and stream_resource/stream_datum documents to arrays.

    Feed it the documents of a run as they arrive (``add_resource``,
    ``add_datum``, ``add_datum_page``, ``add_stream_resource``), then read with
    :meth:`fill` (v1 datum id) or :meth:`read_stream_datum`. Per-run state is
    dropped with :meth:`forget_run`. Not thread-safe.

    Parameters
    ----------
    handler_registry : mapping of str to handler class, optional
        Extra or overriding handlers, ``{spec: cls}``; they win over the
        handlers installed in the ``databroker.handlers`` entry-point group,
        which win over :data:`DEFAULT_HANDLERS` (see ``_registry``).
    root_map : mapping of str to str, optional
        ``{old_prefix: new_prefix}`` applied to resource paths and URI paths.
    base_dir : path-like, optional
        Directory that relative paths resolve against; default the current
        working directory at construction.
    allowed_roots : iterable of path-like, optional
        If given, every file must lie (symlinks resolved) under one of these,
        a ``root_map`` target or ``base_dir``. ``None`` (default) skips this
        containment check of the named path; the real path of every file
        (symlinks resolved) must then lie under its own resource's directory.
        Traversal, scheme and host checks always apply.
    max_read_bytes : int, optional
        The bound on the bytes read for one resource (or stream_resource) in
        total, default :data:`DEFAULT_MAX_RESOURCE_BYTES` (64 GiB). One read
        (a datum's frames, the events of one stream_datum: all their files
        together, or one HDF5 slice) is bounded by it and by
        :data:`DEFAULT_MAX_READ_BYTES` (1 GiB), whichever is smaller. A read
        over either is refused before it is made.
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
        max_read_bytes: int = DEFAULT_MAX_RESOURCE_BYTES,
    ) -> None:
        if timeout < 0 or poll_interval <= 0:
            raise ValueError(
                f"timeout must be >= 0 and poll_interval > 0, got {timeout}, {poll_interval}"
            )
        if isinstance(max_read_bytes, bool) or not isinstance(max_read_bytes, int) or (
            max_read_bytes < 1
        ):
            raise ValueError(f"max_read_bytes must be a positive int, got {max_read_bytes!r}")
        self._handlers = HandlerLookup(DEFAULT_HANDLERS, handler_registry)
        self._paths = _PathPolicy(
            root_map or {},
            Path(base_dir if base_dir is not None else Path.cwd()).absolute(),
            allowed_roots,
            max_read_bytes,
        )
        self.timeout = float(timeout)
        self.poll_interval = float(poll_interval)
        self._datums = _Datums(self._handlers, self._paths)
        self._streams = _Streams(self._paths)

    @property
    def root_map(self) -> Mapping[str, str]:
        """The ``{old_prefix: new_prefix}`` map (read-only view)."""
        return MappingProxyType(self._paths.root_map)

    @property
    def base_dir(self) -> Path:
        """The absolute directory relative paths resolve against."""
        return self._paths.base_dir

    @property
    def allowed_roots(self) -> tuple[Path, ...] | None:
        """The resolved roots every file must lie under, or None for no containment check."""
        return self._paths.allowed_roots

    @property
    def max_read_bytes(self) -> int:
        """The bound on the bytes read for one resource in total."""
        return self._paths.max_bytes

    @property
    def handler_registry(self) -> Mapping[str, HandlerClass]:
        """The handler classes at hand, spec -> class (installed ones once used)."""
        return MappingProxyType(self._handlers.classes())

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
        self._handlers.register(spec, handler_class)

    def _budget(self, wait: float | None) -> float:
        """Seconds a read may wait: ``timeout`` unless ``wait`` is given."""
        return self.timeout if wait is None else max(0.0, float(wait))

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
        self._datums.add_resource(doc, run_start)

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
        self._datums.add_datum(doc)

    def add_datum_page(self, doc: Mapping[str, Any]) -> None:
        """Register every datum of a ``datum_page`` document.

        Parameters
        ----------
        doc : mapping
            The datum_page document.
        """
        self._datums.add_datum_page(doc)

    def fill(self, datum_id: str, *, wait: float | None = None,
             shape: Sequence[int | None] | None = None) -> np.ndarray:
        """Return the array a datum id refers to.

        Parameters
        ----------
        datum_id : str
            The id found in an event's ``data`` for an external key.
        wait : float, optional
            Seconds to keep retrying an unreadable file; default ``timeout``,
            0 for a single attempt.
        shape : sequence of int, optional
            The per-event shape the descriptor declares for the datum's key:
            the array is fitted to it (:func:`fit_declared`), with the resource's
            ``frame_per_point`` and ``join_method`` as TiledWriter reads them.

        Returns
        -------
        numpy.ndarray
            What the spec's handler returns, dtype unchanged.

        Raises
        ------
        ExternalDataError
            Unknown datum, or the file is still unreadable after ``wait``.
        FrameShapeError
            The array does not fit the declared ``shape``.
        """
        array = self._datums.fill(datum_id, self._budget(wait), self.poll_interval)
        if shape is not None and all(isinstance(size, int) for size in shape):
            # as TiledWriter reads the resource: frame_per_point, join_method
            shape = event_shape([int(size) for size in shape],  # type: ignore[arg-type]
                                self._datums.parameters_of(datum_id))
        return fit_declared(array, shape, f"datum {datum_id}")

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
        self._streams.add_stream_resource(doc, run_start)

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
        return self._streams.read_stream_datum(
            doc, descriptor_data_key_shape, self._budget(wait), self.poll_interval
        )

    def forget_run(self, run_start_uid: str) -> None:
        """Drop every resource, datum, handler and stream_resource of a run.

        Handlers with a ``close()`` method are closed.

        Parameters
        ----------
        run_start_uid : str
            The uid of the run's start document.
        """
        self._datums.forget_run(run_start_uid)
        self._streams.forget_run(run_start_uid)

    def close(self) -> None:
        """Drop all state of all runs, closing handlers that have ``close()``."""
        self._datums.close()
        self._streams.clear()

    def __enter__(self) -> ExternalResolver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

