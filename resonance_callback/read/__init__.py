"""Read a beamtime back: runs as documents, tables and frames; exports, summaries, checks."""

from resonance_callback.read._beamtime import Beamtime, open_beamtime
from resonance_callback.read._check import CheckReport, check_beamtime
from resonance_callback.read._frames import FrameArray
from resonance_callback.read._run import RejectedDocument, Run

__all__ = ["Beamtime", "CheckReport", "FrameArray", "RejectedDocument", "Run", "check_beamtime",
           "open_beamtime"]
