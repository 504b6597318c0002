"""``RunWriterCallback``: Bluesky documents in, typed calls on the beamtime store out."""

from resonance_callback.callback._callback import RunWriterCallback

__all__ = ["RunWriterCallback"]
