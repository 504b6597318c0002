"""The one SELECT of the index's runs and the columns a run filter reads, on either engine."""

from __future__ import annotations

from resonance_callback.index._dialect import TAGS_JSON
from resonance_callback.store import FilterColumns

__all__ = ["INDEX_COLUMNS", "RUN_SELECT"]

#: Columns of the index's ``runs r JOIN beamtimes b JOIN researchers res``.
INDEX_COLUMNS = FilterColumns(
    sample="r.sample_name", plan="r.plan_name", exit_status="r.exit_status",
    time_start="r.time_start", scan_id="r.scan_id", metadata="r.metadata", tiebreak="r.rowid",
    researcher="res.name",
    tag_exists="EXISTS (SELECT 1 FROM run_tags t WHERE t.run_uid = r.uid AND {match})",
    metadata_index="r.uid IN (SELECT m.run_uid FROM run_metadata m WHERE {match})",
    # the ``stop`` metadata IndexCatalog gives a stopped run (None while open)
    stop="(CASE WHEN r.exit_status IS NOT NULL THEN json_object('exit_status', r.exit_status, "
         "'time', r.time_stop, 'num_events', json(r.num_events)) END)")

#: The one SELECT of the index's runs (``search``, :class:`IndexCatalog`, the
#: served index): the columns :func:`indexed_run` reads, then the start document.
RUN_SELECT = """SELECT r.uid, r.plan_name, r.sample_name, r.scan_id, r.time_start, r.time_stop,
                       r.exit_status, res.name, b.label, res.root_path, b.db_path,
                       """ + TAGS_JSON["sqlite"] + """,
                       r.num_events, r.metadata
                FROM runs r
                JOIN beamtimes b ON b.id = r.beamtime_id
                JOIN researchers res ON res.id = b.researcher_id"""
