"""A one-line summary per stored run through logging, off until a user turns it on."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import pytest
from bluesky import RunEngine
from bluesky.plans import grid_scan
from bluesky.preprocessors import SupplementalData
from ophyd.sim import det4, motor1, motor2

from resonance_callback import RunWriterCallback, open_beamtime
from resonance_callback.callback import show_run_summaries

LOGGER = "resonance_callback.runs"


@pytest.fixture
def summaries() -> Iterator[logging.Logger]:
    """The summary logger, put back as it was (level, handlers) after the test."""
    logger = logging.getLogger(LOGGER)
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    for handler in list(logger.handlers):
        if handler not in handlers:
            logger.removeHandler(handler)


def grid(RE: RunEngine, callback: RunWriterCallback) -> str:
    (uid,) = RE(grid_scan([det4], motor1, -1, 1, 3, motor2, -1, 1, 2), callback).run_start_uids
    return uid


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


@pytest.mark.parametrize("threaded", [True, False])
def test_each_stored_run_logs_one_summary_line_at_info(RE, db_path: Path, caplog,
                                                       threaded: bool) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with RunWriterCallback(db_path, threaded=threaded) as callback:
        uid = grid(RE, callback)
        assert len(lines(caplog)) == 1  # logged by the time the scan returns
    with open_beamtime(db_path) as bt:
        scan_id = bt[uid].scan_id
    assert lines(caplog) == [f"stored scan {scan_id}: grid_scan, 6 events, 0 rejected "
                             "-> beamtime.db"]


def test_the_summary_names_each_stream_the_rejected_and_an_exit_status_not_success(
        RE, db_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    descriptors: list[dict[str, Any]] = []
    RE.subscribe(lambda name, doc: descriptors.append(doc) if name == "descriptor" else None)
    RE.preprocessors.append(SupplementalData(baseline=[motor1, motor2]))
    callback = RunWriterCallback(db_path)

    def plan():
        yield from bps.open_run(md={"plan_name": "align"})
        yield from bps.trigger_and_read([det4, motor1, motor2])
        primary = next(d for d in descriptors if d["name"] == "primary")
        callback("event", {"uid": "no-seq-num", "descriptor": primary["uid"], "time": 1.0,
                           "data": {}, "timestamps": {}})  # malformed: kept as rejected
        raise RuntimeError("the sample fell off")
        yield from bps.close_run()

    with callback, pytest.raises(RuntimeError, match="fell off"):
        RE(plan(), callback)
    (line,) = lines(caplog)
    # the baseline's reading at the end is not taken when the plan fails
    assert line.endswith(": align, 2 events (baseline 1, primary 1), 1 rejected "
                         "-> beamtime.db")
    assert line.startswith("stored scan ") and " (failed): " in line


def test_the_summary_is_off_until_the_logger_is_set_to_info(RE, db_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    with RunWriterCallback(db_path) as callback:
        grid(RE, callback)
        assert lines(caplog) == []
        caplog.set_level(logging.INFO, logger=LOGGER)
        grid(RE, callback)
    (line,) = lines(caplog)
    assert line.startswith("stored scan ") and line.endswith(" -> beamtime.db")


def test_a_summary_that_cannot_be_logged_never_reaches_the_scan(RE, db_path: Path,
                                                               summaries) -> None:
    tried: list[str] = []

    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            tried.append(record.getMessage())
            raise RuntimeError("this handler is broken")

    summaries.setLevel(logging.INFO)
    summaries.addHandler(Broken())
    with RunWriterCallback(db_path) as callback:
        uid = grid(RE, callback)
    assert len(tried) == 1 and tried[0].startswith("stored scan ")
    with open_beamtime(db_path) as bt:
        assert bt[uid].exit_status == "success" and len(bt[uid].table()) == 6


def test_show_run_summaries_prints_the_bare_line_once_to_the_stream(RE, db_path: Path,
                                                                    summaries) -> None:
    out = io.StringIO()
    first = show_run_summaries(out)
    assert show_run_summaries(out) is first  # a second call adds no second handler
    with RunWriterCallback(db_path) as callback:
        grid(RE, callback)
    (line,) = out.getvalue().splitlines()
    assert line.startswith("stored scan ") and line.endswith(
        ": grid_scan, 6 events, 0 rejected -> beamtime.db")
