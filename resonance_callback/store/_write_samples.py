"""Samples, upserted by name: the ``samples`` row of a run's sample."""

from __future__ import annotations

from resonance_callback import jsoncodec
from resonance_callback.store._batch import Batch
from resonance_callback.store._sample import SampleMetadata

__all__ = ["sample_id"]


def sample_id(batch: Batch, sample: SampleMetadata, cache: dict[str, int]) -> int:
    """The id of ``sample``'s row: inserted, or found by name and its metadata merged."""
    if sample.id is not None:
        return sample.id
    cached = cache.get(sample.name)
    if cached is not None:
        return cached
    meta = sample.metadata()
    row = batch.execute("SELECT id, metadata FROM samples WHERE name = ?",
                        (sample.name,)).fetchone()
    if row is None:
        sample_id = batch.execute("INSERT INTO samples (name, metadata) VALUES (?, ?)",
                                  (sample.name, jsoncodec.dumps(meta))).lastrowid
    else:
        sample_id = row[0]
        stored = jsoncodec.loads(row[1]) or {}
        if meta and any(stored.get(k) != v for k, v in meta.items()):
            stored.update(meta)
            batch.execute("UPDATE samples SET metadata = ? WHERE id = ?",
                          (jsoncodec.dumps(stored), sample_id))
    assert sample_id is not None
    cache[sample.name] = sample_id
    return sample_id
