"""Resources without ``run_start`` held while several runs are open, and what close does."""

from __future__ import annotations

from pathlib import Path

from event_model import compose_run

from resonance_callback import RunWriterCallback

from ..conftest import sql


def test_a_held_datum_with_an_empty_datum_id_is_kept_at_close_without_a_run(
        tmp_path: Path) -> None:
    first, second = compose_run(), compose_run()
    resource = {"uid": "res-1", "spec": "NPY_SEQ", "root": str(tmp_path), "resource_path": "f",
                "resource_kwargs": {}, "path_semantics": "posix"}  # no run_start: held
    datum = {"datum_id": "", "resource": "res-1", "datum_kwargs": {"index": 0}}
    db = tmp_path / "beamtime.db"
    callback = RunWriterCallback(db, threaded=False)
    for name, doc in [("start", first.start_doc), ("start", second.start_doc),
                      ("resource", resource), ("datum", datum)]:
        callback(name, doc)
    callback.close()  # no run used them: kept without a run
    assert sql(db, "SELECT name, uid, run_uid FROM external_documents ORDER BY ordinal") == [
        ("resource", "res-1", None), ("datum", "", None)]
