"""The files a stream resource's stream datums name, listed as TiledWriter lists its assets.

bluesky-tiled-plugins' consolidators give each stream datum ``files_per_datum``
files of a multipart sequence (``uri`` + the ``template`` formatted with the
file number), one file per index for templated ``application/octet-stream``,
and the ``uri`` itself for a single file (HDF5, octet-stream without a template).
Nothing is opened: the list is made from the documents alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from resonance_callback._datum_shape import datum_shape as _datum_shape
from resonance_callback._datum_shape import multiplier_of
from resonance_callback.errors import MalformedReferenceError
from resonance_callback.external._common import NPY_MIMETYPE, OCTET_MIMETYPE
from resonance_callback.external._streams import checked_ranges
from resonance_callback.external._templates import _format_template

__all__ = ["MAX_ASSETS", "stream_datum_uris"]

#: Most files listed for one stream resource (a bound on what documents can make us build).
MAX_ASSETS = 100_000


def _files_per_datum(declared: Sequence[int], parameters: Mapping[str, Any]) -> int:
    """TiledWriter's ``files_per_datum`` (``MultipartRelatedConsolidator``)."""
    given = parameters.get("files_per_datum")
    if isinstance(given, int) and not isinstance(given, bool) and given > 0:
        return given
    datum = _datum_shape(declared, parameters)
    if not datum:
        return 1
    chunk = tuple(parameters.get("chunk_shape") or (1,))
    if (parameters.get("join_method") or "stack") == "concat":
        per_file = int(chunk[0])
    elif multiplier_of(parameters):
        per_file = 1
    elif len(chunk) == len(datum) and chunk[1:] == datum[1:] and datum[0] % chunk[0] == 0:
        per_file = int(chunk[0])
    else:
        per_file = datum[0]
    return max(datum[0] // max(per_file, 1), 1)


def stream_datum_uris(stream_resource: Mapping[str, Any], declared: Sequence[int | None],
                      datums: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the URIs of the files ``datums`` name, in order, as TiledWriter's assets.

    Parameters
    ----------
    stream_resource : mapping
        The ``stream_resource`` document (``uri``, ``mimetype``, ``parameters``).
    declared : sequence of int
        The descriptor's ``shape`` of the stream resource's data key.
    datums : iterable of mapping
        Its ``stream_datum`` documents.

    Raises
    ------
    MalformedReferenceError
        A template or an index range that the writer would have refused, or
        more than :data:`MAX_ASSETS` files.
    """
    uri = str(stream_resource.get("uri") or "")
    mimetype = str(stream_resource.get("mimetype") or "")
    parameters = dict(stream_resource.get("parameters") or {})
    if mimetype == NPY_MIMETYPE:
        parameters["template"] = f"{parameters.get('filename') or ''}_{{:d}}.npy"
    template = parameters.get("template")
    if not template:
        return [uri]
    if mimetype == OCTET_MIMETYPE:
        per_datum = 1
    else:
        sizes = [int(size) for size in declared if size is not None]
        per_datum = _files_per_datum(sizes, parameters) if len(sizes) == len(declared) else 1
    where = f"stream_resource {stream_resource.get('uid')}"
    out: list[str] = []
    for datum in datums:
        indices, _ = checked_ranges(datum)
        numbers = range(indices.start * per_datum, indices.stop * per_datum)
        if len(out) + len(numbers) > MAX_ASSETS:
            raise MalformedReferenceError(f"{where} names more than {MAX_ASSETS} files")
        for number in numbers:
            name = _format_template(str(template), str(parameters.get("filename") or ""),
                                    number, where)
            out.append(uri + (name.lstrip("/") if uri.endswith("/") else name))
    return out
