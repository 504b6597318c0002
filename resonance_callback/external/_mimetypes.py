"""A stream resource's mimetype: normalised, or converted from a pre-1.20 ``spec``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resonance_callback.external._common import HDF5_MIMETYPE, NPY_MIMETYPE, TIFF_MIMETYPE

__all__ = ["LEGACY_SPEC_MIMETYPES", "legacy_mimetype"]


def _normalise_mimetype(mimetype: str) -> str:
    return ";".join(part.strip() for part in mimetype.split(";")).lower()


#: The mimetype TiledWriter gives the specs of stream resources from before event-model 1.20.
LEGACY_SPEC_MIMETYPES = {
    **dict.fromkeys(["AD_HDF5", "AD_HDF5_SWMR", "AD_HDF5_SWMR_STREAM", "AD_HDF5_SWMR_SLICE",
                     "AD_HDF5_SINGLE", "PIL100k_HDF5", "HDF5", "hdf5"], HDF5_MIMETYPE),
    "AD_TIFF": TIFF_MIMETYPE,
    "NPY_SEQ": NPY_MIMETYPE,
}


def legacy_mimetype(doc: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The mimetype and parameters of an ophyd (v1) resource, or a pre-1.20 stream resource.

    Such a document has ``spec``, ``root``, ``resource_path`` and
    ``resource_kwargs``; it is read as TiledWriter converts it: the mimetype
    from the spec, the parameters from ``resource_kwargs`` (an HDF5 ``path``
    is the ``dataset``, default ``/entry/data/data``).
    """
    spec = str(doc.get("spec"))
    mimetype = LEGACY_SPEC_MIMETYPES.get(spec, f"(spec {spec})")
    parameters = dict(doc.get("resource_kwargs") or {})
    if mimetype == HDF5_MIMETYPE:
        parameters["dataset"] = parameters.pop("path", None) or parameters.get(
            "dataset") or "/entry/data/data"
    return mimetype, parameters
