"""databroker's habits in the embedded reader (issue 26): a run is a mapping of its streams,
a beamtime a mapping of its runs; read() of frames converts to a DataFrame; a shape-[1]
field is the same scalar in table() and read(); table(time="datetime") is in UTC."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import numpy as np
import pandas as pd
import pytest
from bluesky import RunEngine
from bluesky.plans import count, grid_scan
from bluesky.preprocessors import SupplementalData
from ophyd.sim import det4, direct_img, motor1, motor2

from resonance_callback import RunWriterCallback, open_beamtime
from resonance_callback.errors import FilterError, RunLookupError

from ..external.test_detector_files import blob_in


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A grid scan of det4 over motor1/motor2 (baseline: both motors), a count of square
    frames (direct_img) and an ophyd-async step count (frames and det-sum), oldest first."""
    base = tmp_path_factory.mktemp("habits")
    db = base / "beamtime.db"
    RE = RunEngine({}, context_managers=[])  # before the detector: it connects in RE's loop
    det = blob_in(base / "det")
    xs = iter([0.0, 2.0, 4.0])

    def per_shot(detectors, take_reading=bps.trigger_and_read):
        det.pattern_generator.set_x(next(xs))
        return (yield from take_reading(detectors))

    # Not threaded: the detector appends to its HDF5 file while a writer thread could
    # still hold it open for reading (HDF5 refuses that within one process).
    callback = RunWriterCallback(db, threaded=False)
    RE.subscribe(callback)
    baseline = SupplementalData(baseline=[motor1, motor2])
    RE.preprocessors.append(baseline)
    try:
        (grid,) = RE(grid_scan([det4], motor1, -1, 1, 3, motor2, -1, 1, 4), sample="Si")
        RE.preprocessors.remove(baseline)
        (frames,) = RE(count([direct_img], 3))
        (async_uid,) = RE(count([det], 3, per_shot=per_shot))
    finally:
        callback.close()
    return {"db": db, "grid": grid, "frames": frames, "async": async_uid}


@pytest.fixture
def bt(runs: dict[str, Any]):
    with open_beamtime(runs["db"]) as beamtime:
        yield beamtime


# -- a run is a read-only mapping of its streams ------------------------------------------


def test_a_run_is_a_mapping_of_its_stream_names_in_declared_order(bt, runs) -> None:
    run = bt[runs["grid"]]
    assert isinstance(run, Mapping)
    assert list(run) == list(run.keys()) == run.streams == ["baseline", "primary"]
    assert len(run) == 2
    assert "baseline" in run and "primary" in run
    assert "nope" not in run and 1 not in run


def test_a_runs_values_and_items_are_its_streams(bt, runs) -> None:
    run = bt[runs["grid"]]
    assert [(name, stream.name) for name, stream in run.items()] == [
        ("baseline", "baseline"), ("primary", "primary")]
    assert [stream.name for stream in run.values()] == ["baseline", "primary"]
    assert set(run["primary"].data_keys) >= {"det4", "motor1", "motor2"}


def test_a_stream_the_run_lacks_gives_gets_default(bt, runs) -> None:
    run = bt[runs["frames"]]
    assert run.get("baseline") is None
    assert run.get("primary").name == "primary"


# -- a beamtime is a read-only mapping of its runs --------------------------------------------


def test_a_beamtime_iterates_its_run_uids_newest_first(bt, runs) -> None:
    newest_first = [runs["async"], runs["frames"], runs["grid"]]
    assert isinstance(bt, Mapping)
    assert list(bt) == list(bt.keys()) == newest_first
    assert [run.uid for run in bt.values()] == newest_first
    assert [(uid, run.uid) for uid, run in bt.items()] == [(u, u) for u in newest_first]


def test_a_beamtime_holds_its_runs_by_uid_and_by_scan_id(bt, runs) -> None:
    grid = bt[runs["grid"]]
    assert runs["grid"] in bt and grid.scan_id in bt
    assert "f" * 36 not in bt and 999 not in bt
    assert bt[grid.scan_id] == grid
    assert bt[-3] == grid  # -N counts from the newest, as before
    assert bt.get("f" * 36) is None
    assert bt.get(runs["grid"]) == grid
    with pytest.raises(RunLookupError, match="f" * 36):
        bt["f" * 36]


# -- read() of frames: distinct dimension names, to_dataframe() ---------------------------


def test_read_of_square_frames_names_each_dimension_apart_without_a_warning(bt, runs) -> None:
    stream = bt[runs["frames"]]["primary"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = stream.read()
    assert [str(w.message) for w in caught] == []
    (field,) = stream.frame_fields
    assert ds[field].shape[1] == ds[field].shape[2]  # square
    assert ds[field].dims == ("time", "dim_int_1", "dim_int_1_2")


def test_read_of_square_frames_converts_to_a_dataframe(bt, runs) -> None:
    ds = bt[runs["frames"]]["primary"].read()
    (field,) = ds.data_vars
    frames = ds[field].values
    table = ds.to_dataframe()
    assert len(table) == frames.size
    np.testing.assert_array_equal(table[field].to_numpy(), frames.ravel())


# -- a shape-[1] field (ophyd-async det-sum) is the same scalar in table() and read() ------


def test_a_shape_1_scalar_is_the_same_scalar_in_table_and_read(bt, runs) -> None:
    run = bt[runs["async"]]
    (declared,) = {d["data_keys"]["det-sum"]["shape"] == [1] for d in run.descriptors("primary")}
    assert declared
    column = run.table()["det-sum"]
    assert column.dtype.kind in "iu"  # scalars, not one-element lists
    read = run["primary"].read()["det-sum"].values
    np.testing.assert_array_equal(column.to_numpy(), read)
    assert len(set(read.tolist())) == 3  # three different sums: not trivially equal


def test_a_shape_1_scalar_is_one_value_in_the_csv_export(bt, runs, tmp_path: Path) -> None:
    from resonance_callback.read import export_csv

    (path,) = export_csv(bt[runs["async"]], tmp_path)
    exported = pd.read_csv(path)["det-sum"]
    np.testing.assert_array_equal(exported.to_numpy(),
                                  bt[runs["async"]]["primary"].read()["det-sum"].values)


# -- table(time="datetime") --------------------------------------------------------------


def test_table_time_datetime_is_timezone_aware_utc(bt, runs) -> None:
    run = bt[runs["grid"]]
    unix = run.table()["time"]
    when = run.table(time="datetime")["time"]
    assert str(when.dt.tz) == "UTC"
    first = when.iloc[0]
    assert first.utcoffset() == dt.timedelta(0)
    expected = pd.Timestamp(dt.datetime.fromtimestamp(unix.iloc[0], dt.UTC))
    assert abs(first - expected) < pd.Timedelta(microseconds=1)
    assert len(when) == 12


def test_table_time_datetime_turns_the_timestamps_into_utc_datetimes_too(bt, runs) -> None:
    table = bt[runs["grid"]].table("baseline", timestamps=True, time="datetime")
    stamps = [c for c in table.columns if c.startswith("ts_")]
    assert stamps and all(str(table[c].dt.tz) == "UTC" for c in stamps)
    assert table["motor1"].dtype.kind == "f"  # the values stay numbers


def test_table_time_of_another_kind_is_one_error_naming_the_run_and_the_kinds(bt, runs) -> None:
    with pytest.raises(FilterError, match=rf"run {runs['grid']}: .*'local'.*'unix', 'datetime'"):
        bt[runs["grid"]].table(time="local")
