"""The beamtime: its SQLite schema, the Zarr frame store, and every query against them.

This is the only package that speaks SQL to a beamtime database. Writers
(:class:`RunWriter`) take method calls, never documents; readers get rows
through the functions exported here.
"""

from resonance_callback.store._frames import DEFAULT_CODEC, FrameStore, codec_name
from resonance_callback.store._sample import SampleMetadata
from resonance_callback.store._writer import EXIT_STATUSES, RunWriter

__all__ = ["DEFAULT_CODEC", "EXIT_STATUSES", "FrameStore", "RunWriter", "SampleMetadata",
           "codec_name"]
