"""Turn detector-file documents into numpy arrays.

This module knows nothing about SQLite, Zarr or the callback. It reads the
files that Bluesky documents point at:

* ophyd (v1) ``resource`` + ``datum`` / ``datum_page`` documents, through
  event-model's handler protocol: a handler class is constructed as
  ``Handler(resolved_resource_path, **resource_kwargs)`` and called as
  ``handler(**datum_kwargs)``, returning an array. Built in: ``NPY_SEQ``
  (what :mod:`ophyd.sim` writes), ``AD_HDF5`` and ``AD_TIFF`` (the area-detector
  file plugins), the rest of the HDF5 family and ``AD_JPEG``, reading
  TiledWriter's parameters. Handlers installed in the ``databroker.handlers``
  entry-point group are found as databroker finds them (``_registry``);
  callers add or override specs with a mapping ``{spec: handler_class}``.
* ophyd-async ``stream_resource`` + ``stream_datum`` documents for the
  mimetypes TiledWriter reads: ``application/x-hdf5`` (one file, or a
  multipart sequence with a ``template``), ``multipart/related;type=image/tiff``,
  ``multipart/related;type=image/jpeg``,
  ``multipart/related;type=application/x-npy`` (``{uri}_{n}.npy``) and
  ``application/octet-stream`` (each event holds its file's bytes as ``uint8``:
  file ``n`` of a ``template``, else the URI's one file). A stream resource
  from before event-model 1.20 (``spec``, ``root``, ``resource_path``, no
  ``uri``) is read as bluesky's TiledWriter converts it.

Parameters, as TiledWriter reads them
-------------------------------------
Each event holds what bluesky-tiled-plugins' consolidators and Tiled's
adapters give that event (``_shapes``): ``multiplier`` (or ``frame_per_point``)
``m`` makes each event ``m`` frames (``[H, W]`` and ``[1, H, W]`` become
``[m, H, W]``; ``frame_per_point=1`` over ``[H, W]`` is ``[1, H, W]``);
``join_method="concat"`` makes a ``[1, H, W]`` event an ``[H, W]`` row;
``slice`` (a numpy index as text, ``":,5,:"``, parsed, never evaluated) and
``squeeze`` apply to the HDF5 dataset as a whole before events take their rows;
``chunk_shape`` and ``files_per_datum`` say how many frames each file of a
sequence holds; ``dataset``, ``template``/``filename``, ``swmr`` and
``locking`` say where and how the file is opened. The same shapes apply to
an ophyd (v1) resource's ``frame_per_point`` and ``join_method``. A parameter
name outside :data:`KNOWN_PARAMETERS` is refused by name: the stream
resource's frames are recorded as unresolved, never read with it ignored.

Paths
-----
A ``resource_path`` under a ``root`` is read relative to that root, also
when it starts with ``/`` (``root + "/dataset.h5"``, as TiledWriter joins them).
An area-detector template is formatted as area detector formats it,
``template % (directory + "/", filename, n)``: a leading ``/``
(``"/%s%s_%5.5d.tif"``) only doubles a separator, and the name must still lie
in the resource's directory (and the allowed roots).
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
* use a URI scheme other than ``file``, a host other than empty or
  ``localhost``, or carry a query or fragment;
* lie outside ``allowed_roots``, when that option is given. The allowed
  roots are then ``allowed_roots`` plus every ``root_map`` target plus
  ``base_dir`` (all configured by the caller, so trusted); the ``root`` of a
  document is *not* trusted, since it comes from the document itself.
  Symbolic links are resolved on both sides before comparing. With
  ``allowed_roots=None`` (the default) any absolute path a document names
  passes this check, so the out-of-the-box behaviour matches what ophyd
  writes to temporary directories; pass ``allowed_roots`` when reading
  documents from an untrusted source (e.g. a replayed file).

Every file is checked again just before it is opened (``_guard``), and
refused with :class:`~resonance_callback.errors.UnsafePathError` when

* its real path (every symlink resolved) is outside the allowed roots, or,
  without ``allowed_roots``, outside its own resource's directory (the
  ``root`` of a resource, else the directory of its path; the directory of a
  stream_resource's HDF5 file, or the directory an image-sequence URI names);
* it is not a regular file (a FIFO, device, socket or directory), checked with
  ``os.stat`` so a read never blocks on one;
* one read (a datum's frames, the events of a ``stream_datum``: all their files
  together, or the HDF5 slice) would be larger than ``max_read_bytes`` or
  :data:`DEFAULT_MAX_READ_BYTES` (1 GiB), whichever is smaller: a ``.npy``,
  TIFF or JPEG file is measured by its size, or the image it declares;
* its resource has read ``max_read_bytes`` bytes in total
  (:data:`DEFAULT_MAX_RESOURCE_BYTES`, 64 GiB): a template naming one file for
  every index, or datums repeating one point, cannot read without end;
* the HDF5 dataset is reached through an external link, is virtual, or keeps
  its data in external raw files (``_hdf5``): the other file is never opened.

Parameters are checked when a ``resource`` or ``stream_resource`` is
registered, before anything is built from them (``_templates``): a
``template`` is parsed (field widths and precisions at most
:data:`MAX_FIELD_WIDTH`, no ``*``, no ``%(key)``, no ``%c``; new-style only
``{}``/``{0}``, never attribute or index access such as ``{0.__class__}``),
each name built from it is at most :data:`PATH_MAX` bytes with components of at
most :data:`NAME_MAX`; ``frame_per_point``/``multiplier`` is from 1 to
:data:`MAX_FRAMES_PER_POINT`; ``chunk_shape`` a list of positive sizes (and
at most one dimension more than the declared per-event shape); ``join_method``
one of :data:`JOIN_METHODS`. A parameter that fails raises
:class:`~resonance_callback.errors.MalformedReferenceError` at once.

An HDF5 file shorter than the size it records (cut short), and a ``.npy``
file that ends early, are "not readable yet". Index ranges are checked before
use: a ``stream_datum`` range must be non-negative, not reversed, not beyond
:data:`MAX_FRAME_INDEX` and at most :data:`MAX_STREAM_EVENTS` long
(:func:`checked_ranges`); datum indices are bounded the same way.

Waiting
-------
Detector files are often written after the document that names them. Every
read polls (every ``poll_interval`` seconds) until it succeeds or ``wait``
seconds (default: the resolver's ``timeout``) have passed, then raises
:class:`~resonance_callback.errors.ExternalDataError` naming the file and the
last reason. Errors that waiting cannot fix (unsafe path, unknown spec or
mimetype, shape mismatch, a malformed parameter) are raised at once. A handler signals such a
permanent error by raising ``ExternalDataError``; any other exception it
raises is treated as "not readable yet" and retried.

File handles are never kept: each read opens its file(s) and closes them
before returning. HDF5 files are opened in SWMR-read mode, which reads files
still open for writing by an SWMR writer (ophyd-async, AD with SWMR on), in
another process or in this one, as well as ordinary files.

``h5py``, ``tifffile`` and ``Pillow`` are imported only when a file of their
kind is read. Pillow is optional (extra ``jpeg``): without it, reading a JPEG
raises ``ExternalDataError`` at once, naming the file and
``pip install 'resonance-callback[jpeg]'``.
"""

from resonance_callback.external._assets import stream_datum_uris
from resonance_callback.external._common import (
    HDF5_MIMETYPE,
    JPEG_MIMETYPE,
    NPY_MIMETYPE,
    OCTET_MIMETYPE,
    SUPPORTED_MIMETYPES,
    TIFF_MIMETYPE,
    HandlerClass,
)
from resonance_callback.external._guard import (
    DEFAULT_MAX_READ_BYTES,
    DEFAULT_MAX_RESOURCE_BYTES,
    MAX_FRAME_INDEX,
    MAX_STREAM_EVENTS,
)
from resonance_callback.external._handlers import (
    DEFAULT_HANDLERS,
    AreaDetectorHDF5Handler,
    AreaDetectorJpegHandler,
    AreaDetectorTiffHandler,
    NpySeqHandler,
)
from resonance_callback.external._mimetypes import legacy_mimetype
from resonance_callback.external._registry import ENTRY_POINT_GROUP, OURS_INSTEAD
from resonance_callback.external._resolver import ExternalResolver
from resonance_callback.external._shapes import KNOWN_PARAMETERS, event_shape
from resonance_callback.external._sources import fit_declared
from resonance_callback.external._streams import StreamFrames, checked_ranges
from resonance_callback.external._templates import (
    JOIN_METHODS,
    MAX_FIELD_WIDTH,
    MAX_FRAMES_PER_POINT,
    NAME_MAX,
    PATH_MAX,
    check_template,
)

__all__ = [
    "DEFAULT_HANDLERS",
    "DEFAULT_MAX_READ_BYTES",
    "DEFAULT_MAX_RESOURCE_BYTES",
    "ENTRY_POINT_GROUP",
    "HDF5_MIMETYPE",
    "JOIN_METHODS",
    "JPEG_MIMETYPE",
    "KNOWN_PARAMETERS",
    "MAX_FIELD_WIDTH",
    "MAX_FRAMES_PER_POINT",
    "MAX_FRAME_INDEX",
    "MAX_STREAM_EVENTS",
    "NAME_MAX",
    "NPY_MIMETYPE",
    "OCTET_MIMETYPE",
    "OURS_INSTEAD",
    "PATH_MAX",
    "SUPPORTED_MIMETYPES",
    "TIFF_MIMETYPE",
    "AreaDetectorHDF5Handler",
    "AreaDetectorJpegHandler",
    "AreaDetectorTiffHandler",
    "ExternalResolver",
    "HandlerClass",
    "NpySeqHandler",
    "StreamFrames",
    "check_template",
    "checked_ranges",
    "event_shape",
    "fit_declared",
    "legacy_mimetype",
    "stream_datum_uris",
]
