"""The ``data_sources`` of a stream's array nodes: the detector files its frames came from.

As TiledWriter's nodes have them (``node.data_sources()``): per stream resource
of the field, its ``mimetype``, its ``parameters`` as the document gave them, and
one asset per file its stream datums name (:func:`~resonance_callback.external.stream_datum_uris`),
management ``external``. An ophyd (v1) resource is converted as TiledWriter converts
it (:func:`~resonance_callback.external.legacy_mimetype`): one data source, its asset
the file (or directory) ``root`` / ``resource_path`` names. An
``application/octet-stream`` source is a ``bytes`` data source, as TiledWriter
registers it. The frames themselves are served from our Zarr copy; a field that came
in the events (no resource) has none.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback._extras import needs_extra
from resonance_callback.errors import ResonanceError
from resonance_callback.external import (
    HDF5_MIMETYPE,
    OCTET_MIMETYPE,
    legacy_mimetype,
    stream_datum_uris,
)
from resonance_callback.read import Stream

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    from tiled.server.schemas import Asset, DataSource, Management

__all__ = ["field_data_sources"]

logger = logging.getLogger("resonance_callback.tiled_server")


def field_data_sources(stream: Stream, field: str, structure: Any) -> list[DataSource] | None:
    """Return the data sources of ``field``'s node, or None if it came from no stream resource.

    A stream resource whose files cannot be listed (a template or range the
    writer refused, too many files) is left out and logged with its uid.
    """
    refs = stream.stream_resources.get(field)
    if not refs:
        return _resource_source(stream.field_resource(field), structure)
    declared = list(stream.data_keys.get(field, {}).get("shape") or [])
    out = []
    for ref in refs:
        doc = ref.document
        if "uri" not in doc:  # before event-model 1.20: root + resource_path, no URI to give
            continue
        try:
            uris = stream_datum_uris(doc, declared, ref.datums)
        except (ResonanceError, TypeError, ValueError) as exc:
            logger.warning("serve-tiled: stream_resource %s: no data source: %s",
                           doc.get("uid"), exc)
            continue
        octet = doc.get("mimetype") == OCTET_MIMETYPE
        out.append(DataSource(
            structure_family="bytes" if octet else "array",
            structure=None if octet else structure,
            mimetype=str(doc.get("mimetype")),
            parameters=jsoncodec.loads(jsoncodec.dumps(dict(doc.get("parameters") or {}))),
            assets=[Asset(data_uri=uri, is_directory=False, parameter="data_uris", num=n)
                    for n, uri in enumerate(uris)],
            management=Management.external))
    return out or None


def _resource_source(resource: Mapping[str, Any], structure: Any) -> list[DataSource] | None:
    """The data source of an ophyd (v1) ``resource``, or None if it is none (or unknown)."""
    if "resource_path" not in resource or "data_key" in resource:
        return None
    mimetype, parameters = legacy_mimetype(resource)
    path = os.path.join(str(resource.get("root") or ""), str(resource["resource_path"]))
    if mimetype.startswith("(") or not os.path.isabs(path):  # a spec TiledWriter cannot read
        return None
    return [DataSource(
        structure_family="array", structure=structure, mimetype=mimetype,
        parameters=jsoncodec.loads(jsoncodec.dumps(parameters)),
        assets=[Asset(data_uri=Path(path).as_uri(), is_directory=mimetype != HDF5_MIMETYPE,
                      parameter="data_uris", num=0)],
        management=Management.external)]
