"""Read a beamtime back: runs as documents, tables and frames; exports, summaries, checks."""

from resonance_callback.read._beamtime import Beamtime, open_beamtime
from resonance_callback.read._catalog import RunCatalog
from resonance_callback.read._check import CheckReport, check_beamtime
from resonance_callback.read._check_acks import acknowledge_problems
from resonance_callback.read._export import export_csv, export_jsonl, export_tiff, plot_run
from resonance_callback.read._frames import FrameArray
from resonance_callback.read._run import RejectedDocument, Run
from resonance_callback.read._sources import StreamResourceRef
from resonance_callback.read._stream import ConfigReading, Stream
from resonance_callback.read._summary import STATUSES, describe_run, list_runs

__all__ = ["STATUSES", "Beamtime", "CheckReport", "ConfigReading", "FrameArray",
           "RejectedDocument", "Run", "RunCatalog", "Stream", "StreamResourceRef",
           "acknowledge_problems", "check_beamtime", "describe_run", "export_csv",
           "export_jsonl", "export_tiff", "list_runs", "open_beamtime", "plot_run"]
