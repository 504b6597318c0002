"""Saved document streams of every format the ecosystem writes, stored as if live."""

from resonance_callback.replay._replay import ReplaySummary, replay

__all__ = ["ReplaySummary", "replay"]
