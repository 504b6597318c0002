"""Turn detector-file documents into numpy arrays.

This module knows nothing about SQLite, Zarr or the callback. It reads the
files that Bluesky documents point at:

* ophyd (v1) ``resource`` + ``datum`` / ``datum_page`` documents, through
  event-model's handler protocol: a handler class is constructed as
  ``Handler(resolved_resource_path, **resource_kwargs)`` and called as
  ``handler(**datum_kwargs)``, returning an array. Built in: ``NPY_SEQ``
  (what :mod:`ophyd.sim` writes), ``AD_HDF5`` and ``AD_TIFF`` (the area-detector
  file plugins). Callers add or override specs with a mapping
  ``{spec: handler_class}``.
* ophyd-async ``stream_resource`` + ``stream_datum`` documents for the
  mimetypes ophyd-async emits: ``application/x-hdf5``,
  ``multipart/related;type=image/tiff`` and ``multipart/related;type=image/jpeg``.

Paths
-----
``root_map={old_prefix: new_prefix}`` is applied, longest matching prefix
first and only at a path-component boundary, to the joined
``root/resource_path`` of a resource and to the path of a stream_resource URI
alike. A key equal to a resource ``root`` behaves exactly like databroker's
``root_map``. A path that is still relative afterwards resolves against
``base_dir`` (default: the working directory when the resolver is created).

References are checked before anything is opened, and refused with
:class:`~resonance_callback.errors.UnsafePathError` when they

* contain a ``..`` component (in ``root``, ``resource_path``, a URI path or a
  file name built from a template);
* give an absolute ``resource_path`` under a non-empty ``root`` (it would
  escape the root);
* use a URI scheme other than ``file``, a host other than empty or
  ``localhost``, or carry a query or fragment;
* lie outside ``allowed_roots``, when that option is given. The allowed
  roots are then ``allowed_roots`` plus every ``root_map`` target plus
  ``base_dir`` (all configured by the caller, so trusted); the ``root`` of a
  document is *not* trusted, since it comes from the document itself.
  Symbolic links are resolved on both sides before comparing. With
  ``allowed_roots=None`` (the default) any absolute path passes the
  containment check, so the out-of-the-box behaviour matches what ophyd
  writes to temporary directories; pass ``allowed_roots`` when reading
  documents from an untrusted source (e.g. a replayed file).

Waiting
-------
Detector files are often written after the document that names them. Every
read polls (every ``poll_interval`` seconds) until it succeeds or ``wait``
seconds (default: the resolver's ``timeout``) have passed, then raises
:class:`~resonance_callback.errors.ExternalDataError` naming the file and the
last reason. Errors that waiting cannot fix (unsafe path, unknown spec or
mimetype, shape mismatch) are raised at once. A handler signals such a
permanent error by raising ``ExternalDataError``; any other exception it
raises is treated as "not readable yet" and retried.

File handles are never kept: each read opens its file(s) and closes them
before returning. HDF5 files are opened in SWMR-read mode, which reads files
still open for writing by an SWMR writer (ophyd-async, AD with SWMR on), in
another process or in this one, as well as ordinary files.

``h5py``, ``tifffile`` and ``Pillow`` are imported only when a file of their
kind is read; a missing library raises ``ExternalDataError`` naming it.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

import numpy as np
from event_model import unpack_datum_page

from .errors import ExternalDataError, UnsafePathError

__all__ = [
    "DEFAULT_HANDLERS",
    "HDF5_MIMETYPE",
    "JPEG_MIMETYPE",
    "SUPPORTED_MIMETYPES",
    "TIFF_MIMETYPE",
    "AreaDetectorHDF5Handler",
    "AreaDetectorTiffHandler",
    "ExternalResolver",
    "HandlerClass",
    "NpySeqHandler",
    "StreamFrames",
]

HandlerClass = Callable[..., Callable[..., Any]]
"""A handler class: ``cls(resource_path, **resource_kwargs)(**datum_kwargs) -> array``."""

_T = TypeVar("_T")

HDF5_MIMETYPE = "application/x-hdf5"
TIFF_MIMETYPE = "multipart/related;type=image/tiff"
JPEG_MIMETYPE = "multipart/related;type=image/jpeg"

SUPPORTED_MIMETYPES = frozenset({HDF5_MIMETYPE, TIFF_MIMETYPE, JPEG_MIMETYPE})
"""The stream_resource mimetypes :class:`ExternalResolver` reads."""

_AD_HDF5_DATASET = "/entry/data/data"
_SEPARATORS = re.compile(r"[\\/]")


class _NotReadyError(Exception):
    """A file exists but does not (yet) hold the data asked for; worth retrying."""


# --------------------------------------------------------------------------- helpers


def _require(module: str, purpose: str) -> Any:
    """Import an optional reader library, or raise a permanent error naming it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ExternalDataError(
            f"reading {purpose} needs the Python package {module!r}, which is not installed"
        ) from exc


def _has_traversal(path: str) -> bool:
    """Return True if ``path`` has a ``..`` component (either separator)."""
    return ".." in _SEPARATORS.split(path)


def _refuse_traversal(path: str, what: str) -> None:
    if _has_traversal(path):
        raise UnsafePathError(f"{what}: path {path!r} contains a '..' component; refused")


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _as_index(value: Any, name: str, where: str) -> int:
    """Validate a datum kwarg that must be a non-negative integer (a file/frame index)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ExternalDataError(f"{where}: {name}={value!r} is not a non-negative integer")
    return int(value)


def _as_count(value: Any, name: str, where: str) -> int:
    """Validate a count that must be a positive integer (frames per point or file)."""
    count = _as_index(value, name, where)
    if count == 0:
        raise ExternalDataError(f"{where}: {name}=0; at least one frame is needed")
    return count


def _frame_range(point_number: int, frame_per_point: int) -> tuple[int, int]:
    return point_number * frame_per_point, (point_number + 1) * frame_per_point


def _format_template(template: str, filename: str, index: int, where: str) -> str:
    """Build one file name from an image-sequence template.

    New-style templates (``"blob_{:06d}.tiff"``, what ophyd-async emits) are
    formatted with the index; printf-style ones (area-detector's
    ``"%s%s_%6.6d.tiff"``) get an empty directory, ``filename`` and the index.
    """
    try:
        if "{" in template:
            return template.format(index)
        args = {2: ("", filename, index), 1: (filename, index), 0: (index,)}
        return template % args[min(template.count("%s"), 2)]
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ExternalDataError(
            f"{where}: cannot build a file name from template {template!r}: {exc}"
        ) from exc


def _join_inside(directory: Path, name: str, where: str) -> Path:
    """Join a template-built file name to its directory, refusing any escape."""
    _refuse_traversal(name, where)
    if Path(name).is_absolute():
        raise UnsafePathError(f"{where}: file name {name!r} is absolute; refused")
    return directory / name


# --------------------------------------------------------------------------- handlers


class NpySeqHandler:
    """Read the ``.npy`` sequence that :class:`ophyd.sim.SynSignalWithRegistry` writes.

    ophyd.sim saves frame ``index`` of a resource at
    ``{root}/{resource_path}_{index}.npy`` (resource_kwargs empty, datum_kwargs
    ``{"index": n}``).

    Parameters
    ----------
    path : str
        The resolved ``root/resource_path`` stem.
    """

    specs = frozenset({"NPY_SEQ"})

    def __init__(self, path: str) -> None:
        self._stem = path

    def __call__(self, index: int) -> np.ndarray:
        """Return the array saved for ``index``, dtype as stored.

        Parameters
        ----------
        index : int
            The datum's ``index``.

        Returns
        -------
        numpy.ndarray
            The saved array.
        """
        index = _as_index(index, "index", f"NPY_SEQ {self._stem}")
        return np.load(f"{self._stem}_{index}.npy", allow_pickle=False)


class AreaDetectorHDF5Handler:
    """Read frames written by the area-detector HDF5 plugin (spec ``AD_HDF5``).

    Frames are in the dataset ``/entry/data/data``, one row per frame; point
    ``n`` holds rows ``[n * frame_per_point, (n + 1) * frame_per_point)``.

    When ``frame_per_point == 1`` the frame axis is dropped and a single frame
    (e.g. ``(H, W)``) is returned, which is what ophyd v1 area detectors
    declare per event. Only that axis is dropped (never ``squeeze()``), so a
    1-pixel-high frame keeps its shape. With more frames per point the result
    is ``(frame_per_point, *frame_shape)``.

    Parameters
    ----------
    path : str
        The resolved path of the HDF5 file.
    frame_per_point : int, optional
        Frames per datum (resource_kwargs), default 1.
    """

    specs = frozenset({"AD_HDF5"})

    def __init__(self, path: str, frame_per_point: int = 1) -> None:
        self._path = path
        self._fpp = _as_count(frame_per_point, "frame_per_point", f"AD_HDF5 {path}")

    def __call__(self, point_number: int) -> np.ndarray:
        """Return the frames of ``point_number``, dtype as stored.

        Parameters
        ----------
        point_number : int
            The datum's ``point_number``.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` when ``frame_per_point == 1``, else ``(fpp, H, W)``.
        """
        where = f"AD_HDF5 {self._path}"
        start, stop = _frame_range(_as_index(point_number, "point_number", where), self._fpp)
        h5py = _require("h5py", "AD_HDF5 files")
        with h5py.File(self._path, "r", swmr=True) as file:
            dataset = file[_AD_HDF5_DATASET]
            if dataset.shape[0] < stop:
                raise _NotReadyError(
                    f"{where}: {_AD_HDF5_DATASET} holds {dataset.shape[0]} frames, "
                    f"point {point_number} needs {stop}"
                )
            return dataset[start] if self._fpp == 1 else dataset[start:stop]


class AreaDetectorTiffHandler:
    """Read frames written by the area-detector TIFF plugin (spec ``AD_TIFF``).

    Frame ``j`` is the file ``template % (directory + "/", filename, j)`` (the
    plugin's ``FileTemplate``, e.g. ``"%s%s_%6.6d.tiff"``); point ``n`` holds
    frames ``[n * frame_per_point, (n + 1) * frame_per_point)``. The result
    has the same shape convention as :class:`AreaDetectorHDF5Handler`. A
    template that would leave the resource directory is refused.

    Parameters
    ----------
    path : str
        The resolved directory the files are in.
    template : str
        The printf-style file template.
    filename : str
        The file base name.
    frame_per_point : int, optional
        Frames per datum, default 1.
    """

    specs = frozenset({"AD_TIFF"})

    def __init__(self, path: str, template: str, filename: str, frame_per_point: int = 1) -> None:
        self._directory = os.path.normpath(path)
        self._template = template
        self._filename = filename
        self._fpp = _as_count(frame_per_point, "frame_per_point", f"AD_TIFF {path}")

    def _file(self, frame: int) -> str:
        where = f"AD_TIFF {self._directory}"
        try:
            name = self._template % (self._directory + os.sep, self._filename, frame)
        except (TypeError, ValueError) as exc:
            raise ExternalDataError(f"{where}: bad template {self._template!r}: {exc}") from exc
        _refuse_traversal(name, where)
        if not _is_within(Path(os.path.normpath(name)), Path(self._directory)):
            raise UnsafePathError(f"{where}: template gives {name!r}, outside the directory")
        return name

    def __call__(self, point_number: int) -> np.ndarray:
        """Return the frames of ``point_number``, dtype as stored.

        Parameters
        ----------
        point_number : int
            The datum's ``point_number``.

        Returns
        -------
        numpy.ndarray
            ``(H, W)`` when ``frame_per_point == 1``, else ``(fpp, H, W)``.
        """
        where = f"AD_TIFF {self._directory}"
        start, stop = _frame_range(_as_index(point_number, "point_number", where), self._fpp)
        tifffile = _require("tifffile", "AD_TIFF files")
        frames = [tifffile.imread(self._file(j)) for j in range(start, stop)]
        return frames[0] if self._fpp == 1 else np.stack(frames)


DEFAULT_HANDLERS: Mapping[str, HandlerClass] = MappingProxyType(
    {
        "NPY_SEQ": NpySeqHandler,
        "AD_HDF5": AreaDetectorHDF5Handler,
        "AD_TIFF": AreaDetectorTiffHandler,
    }
)
"""The built-in handler registry, spec -> handler class."""


# --------------------------------------------------------------------------- stream sources


class _FrameSource(Protocol):
    """The frames of one stream_resource, as a sequence along axis 0."""

    def frame_info(self, hint: int) -> tuple[tuple[int, ...], np.dtype]:
        """Return ``(frame_shape, dtype)``; ``hint`` is a frame index known to exist."""

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return frames ``[start, stop)``, raising ``_NotReadyError`` if short."""

    def close(self) -> None:
        """Release any open file."""


class _HDF5Source:
    """Frames are the rows of one HDF5 dataset, opened SWMR-read for one read."""

    def __init__(self, path: Path, parameters: Mapping[str, Any]) -> None:
        h5py = _require("h5py", f"{HDF5_MIMETYPE} files")
        self._name = str(parameters["dataset"])
        self._where = f"{path} dataset {self._name}"
        self._file = h5py.File(path, "r", swmr=True)
        try:
            self._dataset = self._file[self._name]
        except KeyError as exc:
            self._file.close()
            raise _NotReadyError(f"{path} has no dataset {self._name}") from exc
        if self._dataset.ndim == 0:
            self._file.close()
            raise ExternalDataError(f"{self._where} is a scalar, not a sequence of frames")

    def frame_info(self, hint: int) -> tuple[tuple[int, ...], np.dtype]:
        return tuple(self._dataset.shape[1:]), self._dataset.dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        if self._dataset.shape[0] < stop:
            raise _NotReadyError(
                f"{self._where} holds {self._dataset.shape[0]} frames, {stop} needed"
            )
        return self._dataset[start:stop]

    def close(self) -> None:
        self._file.close()


def _load_tiff(path: Path) -> np.ndarray:
    return _require("tifffile", f"{TIFF_MIMETYPE} files").imread(path)


def _load_jpeg(path: Path) -> np.ndarray:
    pil_image = _require("PIL.Image", f"{JPEG_MIMETYPE} files")
    with pil_image.open(path) as image:
        image.load()
        return np.asarray(image)


class _ImageSequenceSource:
    """Frames spread over numbered files in one directory (multipart/related).

    ``parameters["template"]`` names file ``i``; each file holds
    ``parameters["chunk_shape"][0]`` frames (default 1), as bluesky's
    consolidators define it.
    """

    def __init__(
        self,
        directory: Path,
        parameters: Mapping[str, Any],
        load: Callable[[Path], np.ndarray],
        check: Callable[[Path], None],
    ) -> None:
        self._directory = directory
        self._template = str(parameters["template"])
        self._filename = str(parameters.get("filename", ""))
        chunk_shape = parameters.get("chunk_shape") or (1,)
        self._per_file = _as_count(chunk_shape[0], "chunk_shape[0]", str(directory))
        self._load = load
        self._check = check
        self._files: dict[int, np.ndarray] = {}

    def _path(self, number: int) -> Path:
        where = f"{self._directory} template {self._template!r}"
        name = _format_template(self._template, self._filename, number, where)
        path = _join_inside(self._directory, name, where)
        self._check(path)
        return path

    def _frames_of_file(self, number: int) -> np.ndarray:
        if number not in self._files:
            path = self._path(number)
            array = np.asarray(self._load(path))
            if self._per_file == 1:
                array = array[np.newaxis]
            elif array.ndim == 0 or array.shape[0] != self._per_file:
                raise _NotReadyError(
                    f"{path} holds {array.shape[:1]} frames, not {self._per_file}"
                )
            self._files[number] = array
        return self._files[number]

    def frame_info(self, hint: int) -> tuple[tuple[int, ...], np.dtype]:
        frames = self._frames_of_file(hint // self._per_file)
        return tuple(frames.shape[1:]), frames.dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        if stop <= start:
            return self._frames_of_file(start // self._per_file)[:0]
        first, last = start // self._per_file, (stop - 1) // self._per_file
        frames = np.concatenate([self._frames_of_file(n) for n in range(first, last + 1)])
        offset = first * self._per_file
        return frames[start - offset : stop - offset]

    def close(self) -> None:
        self._files.clear()


def _fixed_shape(declared: Sequence[int | None], where: str) -> tuple[int, ...]:
    """Return the declared per-event shape as ints, refusing variable (None) sizes."""
    shape = []
    for size in declared:
        if size is None:
            raise ExternalDataError(
                f"{where}: variable-sized shape {list(declared)} not supported"
            )
        shape.append(int(size))
    return tuple(shape)


def _frames_per_event(shape: tuple[int, ...], frame_shape: tuple[int, ...], where: str) -> int:
    """Return how many file frames make one event of the declared shape.

    The declared per-event shape must end with the frame shape (leading 1s of
    the frame shape ignored); the product of the remaining leading dimensions
    is the number of frames per event. So ``[1, H, W]`` and ``[H, W]`` over
    ``(H, W)`` frames give 1, ``[2, H, W]`` gives 2, and ``[]`` or ``[1]`` over
    scalar rows give 1.
    """
    frame = frame_shape
    while frame and frame[0] == 1:
        frame = frame[1:]
    lead = len(shape) - len(frame)
    if lead < 0 or shape[lead:] != frame or math.prod(shape[:lead]) < 1:
        raise ExternalDataError(
            f"{where}: declared per-event shape {list(shape)} does not match the file's "
            f"frame shape {list(frame_shape)}"
        )
    return math.prod(shape[:lead])


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
