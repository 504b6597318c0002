"""A run's stream as a table, and its devices' configuration, read for :class:`Run`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from resonance_callback import jsoncodec
from resonance_callback.errors import DataLookupError
from resonance_callback.store import BeamtimeReader, SampleMetadata, StoredRun, run_queries

if TYPE_CHECKING:
    import pandas

__all__ = ["device_config", "no_frames", "stored_sample", "stream_table"]


def stream_table(reader: BeamtimeReader, uid: str, stream: str,
                 descriptors_of: Callable[[str], list[dict[str, Any]]], *,
                 timestamps: bool) -> pandas.DataFrame:
    """Run ``uid``'s ``stream`` as :meth:`Run.table` gives it (see there)."""
    import pandas as pd

    with reader.snapshot():
        descriptors = descriptors_of(stream)
        rows = run_queries.stream_rows(reader, uid, stream, timestamps=timestamps)
    datas = jsoncodec.loads("[" + ",".join(r[2] for r in rows) + "]")
    declared = [k for d in descriptors for k in d.get("data_keys", {})]
    seen = set().union(*datas)
    fields = [k for k in dict.fromkeys(declared) if k in seen]
    if len(fields) < len(seen):  # undeclared keys: in order of first appearance
        extra = dict.fromkeys(k for data in datas for k in data if k not in fields)
        fields += list(extra)
    columns: dict[str, Any] = {"seq_num": [r[0] for r in rows], "time": [r[1] for r in rows]}
    for key in fields:  # a data key named seq_num or time is shown as TiledWriter shows it
        columns[f"{key}_" if key in columns else key] = [data.get(key) for data in datas]
    if timestamps:
        stamps = jsoncodec.loads("[" + ",".join(r[3] for r in rows) + "]")
        for key in fields:
            columns[f"ts_{key}"] = [ts.get(key) for ts in stamps]
    frame = pd.DataFrame(columns)
    if not rows:
        frame = frame.astype({"seq_num": "int64", "time": "float64"})
    return frame


def device_config(uid: str, stream: str, descriptors: list[dict[str, Any]],
                  device: str | None) -> list[dict[str, Any]]:
    """Run ``uid``'s configuration readings of ``stream``, as :meth:`Run.config` gives them."""
    out = []
    for desc in descriptors:
        readings = {name: dict(cfg.get("data", {}))
                    for name, cfg in (desc.get("configuration") or {}).items()}
        out.append(readings if device is None else readings.get(device, {}))
    if device is not None and not any(device in (d.get("configuration") or {})
                                      for d in descriptors):
        raise DataLookupError(f"no device {device!r} in the configuration of stream "
                              f"{stream!r} of run {uid}")
    return out


def no_frames(uid: str, stream: str, field: str, known: list[str]) -> DataLookupError:
    """The error of :meth:`Run.images` for a field without frames, naming those with frames."""
    return DataLookupError(f"stream {stream!r} of run {uid} has no frames for {field!r}; "
                           f"fields with frames: {known}")


def stored_sample(stored: StoredRun) -> SampleMetadata | None:
    """The sample of a run's row (name and metadata), if any."""
    if stored.sample_name is None:
        return None
    meta = dict(jsoncodec.loads(stored.sample_metadata) or {})
    formula, description = meta.pop("formula", None), meta.pop("description", None)
    return SampleMetadata(stored.sample_name, stored.sample_id, formula, description, meta)
