"""The master index: researchers, beamtimes and runs across beamtimes."""

from resonance_callback.index._catalog import IndexCatalog
from resonance_callback.index._dialect import display as shown_index
from resonance_callback.index._dialect import is_url as is_index_url
from resonance_callback.index._live import RunIndexer
from resonance_callback.index._rebuild import ReindexReport, read_beamtime_runs, reindex
from resonance_callback.index._search import IndexedRun, parse_time, search
from resonance_callback.index._writer import IndexWriter

__all__ = ["IndexCatalog", "IndexWriter", "IndexedRun", "ReindexReport", "RunIndexer",
           "is_index_url", "parse_time", "read_beamtime_runs", "reindex", "search",
           "shown_index"]
