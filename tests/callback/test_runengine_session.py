"""A real RunEngine session on ophyd.sim hardware, read back with plain SQL."""

from __future__ import annotations

import json
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import numpy as np
import pytest
import zarr
from bluesky.preprocessors import SupplementalData
from bluesky.utils import FailedStatus, RunEngineInterrupted
from ophyd.sim import SynGauss, det, det1, det2, direct_img, motor, motor1, motor2

from resonance_callback import jsoncodec

from ..conftest import sql


def stored_run(db_path: Path, uid: str) -> dict:
    rows = sql(db_path, "SELECT r.plan_name, r.exit_status, s.name, r.metadata FROM runs r "
                        "JOIN samples s ON s.id = r.sample_id WHERE r.uid = ?", (uid,))
    assert len(rows) == 1, f"expected one runs row for {uid}"
    plan, status, sample, metadata = rows[0]
    return {"plan": plan, "status": status, "sample": sample, "metadata": json.loads(metadata)}


def assert_events_stored_exactly(db_path: Path, captured) -> None:
    """One events row per emitted event with equal values; one frame per 2-D array."""
    frames_root = zarr.open_group(db_path.with_suffix(".zarr"), mode="r")
    for event in captured.events():
        rows = sql(db_path, "SELECT stream_uid, seq_num, time, data, timestamps FROM events "
                            "WHERE uid = ?", (event["uid"],))
        assert len(rows) == 1, f"event {event['uid']} stored {len(rows)} times"
        stream_uid, seq_num, time, data, timestamps = rows[0]
        assert (stream_uid, seq_num, time) == (event["descriptor"], event["seq_num"],
                                               event["time"])
        data, timestamps = jsoncodec.loads(data), jsoncodec.loads(timestamps)
        refs = dict(((f, (p, i)) for f, p, i in sql(
            db_path, "SELECT field_name, zarr_path, frame_index FROM image_refs "
                     "WHERE event_uid = ?", (event["uid"],))))
        for key, value in event["data"].items():
            if np.ndim(value) >= 2:
                path, index = refs.pop(key)
                stored = frames_root[path][index]
                np.testing.assert_array_equal(stored, value)
                assert stored.dtype == np.asarray(value).dtype
                assert key not in data
            else:
                assert data[key] == pytest.approx(value), key
                assert timestamps[key] == event["timestamps"][key]
        assert not refs, f"unexpected frames {refs}"


def test_count_scan_and_grid_runs_are_stored_exactly(session, db_path: Path) -> None:
    RE, callback, captured = session
    uids = [
        RE(bp.count([det, direct_img], num=3), sample="wafer").run_start_uids[0],
        RE(bp.scan([det], motor, -1, 1, 7)).run_start_uids[0],
        RE(bp.rel_scan([det1, det2], motor, -1, 1, 5)).run_start_uids[0],
        RE(bp.grid_scan([det], motor1, 0, 1, 3, motor2, 0, 1, 4, snake_axes=True))
        .run_start_uids[0],
        RE(bp.list_scan([det], motor, [0.1, 0.5, 0.2])).run_start_uids[0],
    ]
    callback.flush()
    for uid, start in zip(uids, captured.of("start"), strict=True):
        run = stored_run(db_path, uid)
        assert run["plan"] == start["plan_name"]
        assert run["status"] == "success"
        assert run["metadata"]["uid"] == uid and run["metadata"]["scan_id"] == start["scan_id"]
    assert stored_run(db_path, uids[0])["sample"] == "wafer"
    assert stored_run(db_path, uids[1])["sample"] == "unknown"
    assert len(sql(db_path, "SELECT uid FROM streams")) == len(captured.of("descriptor"))
    assert sql(db_path, "SELECT count(*) FROM events") == [(len(captured.events()),)]
    assert sql(db_path, "SELECT count(*) FROM image_refs") == [(3,)]
    assert_events_stored_exactly(db_path, captured)
    assert sql(db_path, "SELECT count(*) FROM rejected_documents") == [(0,)]


def test_snake_grid_scan_keeps_motor_positions_in_order(session, db_path: Path) -> None:
    RE, _, captured = session
    RE(bp.grid_scan([det], motor1, 0, 1, 2, motor2, 0, 1, 3, snake_axes=True))
    rows = sql(db_path, "SELECT data FROM events ORDER BY seq_num")
    positions = [(json.loads(d)["motor1"], json.loads(d)["motor2"]) for (d,) in rows]
    assert positions == [(e["data"]["motor1"], e["data"]["motor2"]) for e in captured.events()]
    assert positions[2:4] == [(0.0, 1.0), (1.0, 1.0)]  # the second row runs backwards


def test_baseline_stream_is_stored_beside_primary(session, db_path: Path) -> None:
    RE, _, captured = session
    RE.preprocessors.append(SupplementalData(baseline=[motor1, motor2]))
    uid = RE(bp.count([det], num=2)).run_start_uids[0]
    names = sorted(n for (n,) in sql(db_path, "SELECT name FROM streams WHERE run_uid = ?",
                                     (uid,)))
    assert names == ["baseline", "primary"]
    counts = dict(sql(db_path, "SELECT s.name, count(*) FROM events e JOIN streams s "
                               "ON s.uid = e.stream_uid GROUP BY s.name"))
    assert counts == {"baseline": 2, "primary": 2}
    assert_events_stored_exactly(db_path, captured)


def test_monitor_stream_events_interleave_with_primary(session, db_path: Path) -> None:
    RE, _, captured = session
    det.sigma.put(1.0)

    @bpp.run_decorator()
    def plan():
        yield from bps.monitor(det.sigma, name="det_sigma_monitor")
        for value in (2.0, 3.0):
            yield from bps.trigger_and_read([det])
            yield from bps.mv(det.sigma, value)
        yield from bps.unmonitor(det.sigma)

    RE(plan())
    names = {n for (n,) in sql(db_path, "SELECT name FROM streams")}
    assert names == {"primary", "det_sigma_monitor"}
    monitor = sql(db_path, "SELECT data FROM events e JOIN streams s ON s.uid = e.stream_uid "
                           "WHERE s.name = 'det_sigma_monitor' ORDER BY seq_num")
    assert [json.loads(d)["det_sigma"] for (d,) in monitor] == [1.0, 2.0, 3.0]
    assert_events_stored_exactly(db_path, captured)


def test_reconfigured_device_keeps_each_descriptors_configuration(session, db_path: Path) -> None:
    RE, _, captured = session
    gauss = SynGauss("gauss", motor, "motor", center=0, Imax=1, sigma=1)

    def plan():
        yield from bps.open_run()
        yield from bps.trigger_and_read([gauss])
        yield from bps.configure(gauss, {"sigma": 5})
        yield from bps.trigger_and_read([gauss])
        yield from bps.close_run()

    uid = RE(plan()).run_start_uids[0]
    rows = sql(db_path, "SELECT uid, configuration FROM streams WHERE run_uid = ? "
                        "AND name = 'primary' ORDER BY time", (uid,))
    assert len(rows) == 2 == len(captured.of("descriptor"))
    sigmas = [json.loads(c)["gauss"]["data"]["gauss_sigma"] for _, c in rows]
    assert sigmas == [1, 5]
    seq = sql(db_path, "SELECT seq_num FROM events ORDER BY time")
    assert seq == [(1,), (2,)]


def test_paused_and_resumed_run_is_one_successful_run(session, db_path: Path) -> None:
    RE, _, captured = session

    def plan():
        yield from bps.open_run()
        yield from bps.checkpoint()
        yield from bps.trigger_and_read([det])
        yield from bps.pause()
        yield from bps.trigger_and_read([det])
        yield from bps.close_run()

    with pytest.raises(RunEngineInterrupted):
        RE(plan())
    RE.resume()
    assert sql(db_path, "SELECT exit_status FROM runs") == [("success",)]
    assert sql(db_path, "SELECT count(*) FROM events") == [(len(captured.events()),)]


def test_aborted_run_is_stored_as_aborted_with_reason(session, db_path: Path) -> None:
    RE, _, captured = session

    def plan():
        yield from bps.open_run()
        yield from bps.checkpoint()
        yield from bps.trigger_and_read([det])
        yield from bps.pause()
        yield from bps.close_run()

    with pytest.raises(RunEngineInterrupted):
        RE(plan())
    RE.abort(reason="sample fell off")
    assert sql(db_path, "SELECT exit_status, reason FROM runs") == [("aborted", "sample fell off")]
    assert sql(db_path, "SELECT count(*) FROM events") == [(1,)]


def test_failed_run_is_stored_as_failed(session, db_path: Path) -> None:
    RE, _, _ = session

    def plan():
        yield from bps.open_run()
        yield from bps.trigger_and_read([det])
        raise ValueError("the plan broke")

    with pytest.raises((ValueError, FailedStatus)):
        RE(plan())
    status, reason, stop = sql(db_path, "SELECT exit_status, reason, stop_document FROM runs")[0]
    assert status == "failed" and "the plan broke" in reason
    assert json.loads(stop)["num_events"] == {"primary": 1}


def test_many_runs_through_one_callback_each_get_one_row(session, db_path: Path) -> None:
    RE, _, captured = session
    for i in range(12):
        RE(bp.count([det], num=2), sample=f"sample-{i % 3}")
    starts = {d["uid"] for d in captured.of("start")}
    assert {u for (u,) in sql(db_path, "SELECT uid FROM runs")} == starts
    assert sql(db_path, "SELECT count(*) FROM samples") == [(4,)]  # 3 + the writer's default
    assert sql(db_path, "SELECT count(*) FROM events") == [(24,)]


def test_inline_images_equal_the_emitted_arrays(session, db_path: Path) -> None:
    RE, _, captured = session
    uid = RE(bp.count([direct_img], num=4)).run_start_uids[0]
    emitted = [e["data"]["img"] for e in captured.events()]
    array = zarr.open_group(db_path.with_suffix(".zarr"), mode="r")[f"runs/{uid}/primary/img"]
    np.testing.assert_array_equal(array[:], np.stack(emitted))
    assert array.dtype == emitted[0].dtype  # never upcast


def test_run_is_complete_in_the_database_when_the_plan_returns(
    RE, db_path: Path
) -> None:
    from resonance_callback import RunWriterCallback

    callback = RunWriterCallback(db_path)
    RE.subscribe(callback)
    RE(bp.count([det], num=50))
    # No flush, no close: stop has drained the background writer already.
    assert sql(db_path, "SELECT count(*), max(exit_status) FROM events, runs") == [(50, "success")]
    callback.close()
