"""Read a beamtime back: runs as documents, tables and frames; exports, summaries, checks."""

from resonance_callback.read._beamtime import Beamtime, open_beamtime
from resonance_callback.read._catalog import RunCatalog
from resonance_callback.read._check import CheckReport, check_beamtime
from resonance_callback.read._check_acks import acknowledge_problems
from resonance_callback.read._export import export_csv, export_jsonl, export_tiff
from resonance_callback.read._export_files import pick_runs
from resonance_callback.read._export_many import (
    EXPORT_FORMATS,
    Exported,
    export_runs,
    export_selected,
)
from resonance_callback.read._frames import FrameArray
from resonance_callback.read._msgpack_export import export_msgpack
from resonance_callback.read._nexus import export_nexus
from resonance_callback.read._plot import plot_figure, plot_run, resolve_plot_keys
from resonance_callback.read._run import RejectedDocument, Run
from resonance_callback.read._sources import StreamResourceRef
from resonance_callback.read._stream import ConfigReading, Stream
from resonance_callback.read._summary import STATUSES, describe_run, list_runs

__all__ = ["EXPORT_FORMATS", "STATUSES", "Beamtime", "CheckReport", "ConfigReading",
           "Exported", "FrameArray", "RejectedDocument", "Run", "RunCatalog", "Stream",
           "StreamResourceRef", "acknowledge_problems", "check_beamtime", "describe_run",
           "export_csv", "export_jsonl", "export_msgpack", "export_nexus", "export_runs",
           "export_selected", "export_tiff", "list_runs", "open_beamtime", "pick_runs",
           "plot_figure", "plot_run", "resolve_plot_keys"]
