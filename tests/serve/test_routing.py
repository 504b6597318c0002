"""Which beamtime a run goes to: ``--db-template`` over the start document."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from event_model import compose_run

from resonance_callback import open_beamtime
from resonance_callback.errors import RoutingError
from resonance_callback.serve import BeamtimeRouter, DbTemplate


def _run(router: BeamtimeRouter, **metadata: object) -> str:
    bundle = compose_run(metadata=metadata)
    router("start", bundle.start_doc)
    desc = bundle.compose_descriptor(name="primary", data_keys={
        "x": {"source": "sim", "dtype": "number", "shape": []}})
    router("descriptor", desc.descriptor_doc)
    router("event", desc.compose_event(data={"x": 1.0}, timestamps={"x": 1.0}))
    router("stop", bundle.compose_stop())
    return bundle.start_doc["uid"]


def test_template_routes_each_run_to_the_beamtime_its_start_names(tmp_path: Path) -> None:
    router = BeamtimeRouter(template=DbTemplate("{beamline}/{proposal_id}.db", tmp_path))
    a = _run(router, beamline="BL1", proposal_id=1001)
    b = _run(router, beamline="BL2", proposal_id="p7")
    c = _run(router, beamline="BL1", proposal_id=1001)
    router.close()
    with open_beamtime(tmp_path / "BL1" / "1001.db") as bt:
        assert sorted(bt) == sorted([a, c])
        assert all(len(run.table()) == 1 for run in bt.values())
    with open_beamtime(tmp_path / "BL2" / "p7.db") as bt:
        assert list(bt) == [b]


def test_a_start_missing_a_template_key_is_rejected_naming_uid_and_key_and_kept_unrouted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    router = BeamtimeRouter(template=DbTemplate("{beamline}/{proposal_id}.db", tmp_path))
    uid = _run(router, beamline="BL1")
    router.close()
    assert f"run {uid}: db template '{{beamline}}/{{proposal_id}}.db' needs key " \
           "'proposal_id', missing from its start document" in caplog.text
    assert router.routing_errors == 1
    with open_beamtime(tmp_path / "unrouted.db") as bt:
        assert list(bt) == [uid] and bt[-1].exit_status == "success"


@pytest.mark.parametrize("value", ["..", "../escape", "/etc", "a/b", ".hidden", 1.5, None])
def test_a_value_that_would_leave_the_data_root_or_is_no_plain_name_is_rejected(
        tmp_path: Path, value: object) -> None:
    template = DbTemplate("{beamline}/x.db", tmp_path / "root")
    with pytest.raises(RoutingError, match=r"run u1: key 'beamline' = .* cannot name a path"):
        template.path({"uid": "u1", "beamline": value})


def test_a_template_with_attribute_access_or_no_key_is_refused_at_start_up(tmp_path: Path
                                                                            ) -> None:
    for bad in ["{sample.name}.db", "fixed.db", "{beamline}/x.txt", "{0}.db"]:
        with pytest.raises(RoutingError, match="db template"):
            DbTemplate(bad, tmp_path)


def test_the_service_writes_on_the_thread_that_feeds_it_with_no_writer_thread_between(
        tmp_path: Path) -> None:
    before = {thread.ident for thread in threading.enumerate()}
    router = BeamtimeRouter(tmp_path / "bt.db")
    try:
        router("start", {"uid": "s-1", "time": 1.0, "plan_name": "count"})
        started = [t.name for t in threading.enumerate() if t.ident not in before]
        assert "resonance-writer" not in started
        # Written (and, being a run boundary, committed) before any flush.
        with open_beamtime(tmp_path / "bt.db") as bt:
            assert [run.uid for run in bt.runs()] == ["s-1"]
    finally:
        router.close()
