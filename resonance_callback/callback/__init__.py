"""``RunWriterCallback``: Bluesky documents in, typed calls on the beamtime store out.

``show_run_summaries()`` prints a line per stored run beside BestEffortCallback.
"""

from resonance_callback.callback._callback import RunWriterCallback
from resonance_callback.callback._summary import show_run_summaries

__all__ = ["RunWriterCallback", "show_run_summaries"]
