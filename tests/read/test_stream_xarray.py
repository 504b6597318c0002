"""databroker-style reading: run.metadata, run["primary"] / run.primary, stream.read(), config."""

from __future__ import annotations

from pathlib import Path

import dask.array
import numpy as np
import pytest
import xarray

from resonance_callback import open_beamtime
from resonance_callback.errors import DataLookupError

from ..rich_beamtime import RichBeamtime, build_rich_beamtime


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> RichBeamtime:
    return build_rich_beamtime(tmp_path_factory.mktemp("rich"))


@pytest.fixture
def bt(rich: RichBeamtime):
    with open_beamtime(rich.db) as beamtime:
        yield beamtime


def test_run_metadata_has_start_stop_and_summary(bt, rich) -> None:
    run = bt[rich.scan]
    meta = run.metadata
    assert meta["start"] == run.start
    assert meta["stop"] == run.stop
    summary = meta["summary"]
    assert summary["uid"] == rich.scan
    assert summary["plan_name"] == "scan"
    assert summary["sample"] == "silicon"
    assert summary["exit_status"] == "success"
    assert summary["stream_names"] == run.streams
    assert summary["duration"] == pytest.approx(run.stop["time"] - run.start["time"])


def test_stream_by_key_and_by_attribute_are_the_same_stream(bt, rich) -> None:
    run = bt[rich.scan]
    assert run["primary"].name == run.primary.name == "primary"
    assert run.baseline.descriptors == run.descriptors("baseline")


def test_unknown_stream_is_a_key_error_and_an_attribute_error_naming_the_run(bt, rich) -> None:
    run = bt[rich.scan]
    with pytest.raises(DataLookupError, match=rich.scan):
        run["nope"]
    with pytest.raises(AttributeError, match="nope"):
        run.nope  # noqa: B018


def test_read_gives_time_dimension_and_every_scalar_as_stored(bt, rich) -> None:
    run = bt[rich.scan]
    ds = run.primary.read()
    table = run.table()
    assert isinstance(ds, xarray.Dataset)
    assert set(ds.data_vars) == {"det", "motor", "motor_setpoint", "img"}
    np.testing.assert_array_equal(ds["time"].values, table["time"].to_numpy())
    for field in ("det", "motor", "motor_setpoint"):
        assert ds[field].dims == ("time",)
        assert ds[field].dtype == np.float64
        np.testing.assert_array_equal(ds[field].values, table[field].to_numpy())


def test_inline_frames_are_read_lazily_and_equal_the_stored_frames(bt, rich) -> None:
    run = bt[rich.scan]
    img = run.primary.read()["img"]
    assert not img.variable._in_memory  # indexed lazily: a frame is read when asked for
    assert img.dims == ("time", "dim_int_1", "dim_int_1_2")  # square: named apart
    np.testing.assert_array_equal(img[3].values, run.images("img")[3])
    np.testing.assert_array_equal(img.values, np.asarray(run.images("img")))


def test_frames_chunk_into_dask_arrays_of_one_frame_each(bt, rich) -> None:
    img = bt[rich.scan].primary.read()["img"].chunk({"time": 1})
    assert isinstance(img.data, dask.array.Array)
    assert img.data.chunks[0] == (1,) * 5
    np.testing.assert_array_equal(img.values, np.asarray(bt[rich.scan].images("img")))


def test_detector_file_frames_read_with_their_dtype_and_per_field_dims(bt, rich) -> None:
    run = bt[rich.files]
    img = run.primary.read()["img"]
    assert img.dims == ("time", "img_dim1", "img_dim2")
    assert img.dtype == np.uint16
    np.testing.assert_array_equal(img.values, np.asarray(run.images("img")))


def test_fly_scan_frames_and_inline_arrays_read_from_the_derived_rows(bt, rich) -> None:
    run = bt[rich.fly]
    ds = run.primary.read()
    assert ds.sizes["time"] == 4
    np.testing.assert_array_equal(ds["det"].values, np.asarray(run.images("det")))
    # det-sum is declared a number of shape [1]: one scalar per event, as TiledWriter reads it
    stored = np.array(run.stored_table()["det-sum"].tolist())
    assert stored.shape == (4, 1)
    np.testing.assert_array_equal(ds["det-sum"].values, stored[:, 0])
    assert ds["det-sum"].dims == ("time",)


def test_baseline_reads_its_two_readings(bt, rich) -> None:
    ds = bt[rich.scan].baseline.read()
    assert ds.sizes["time"] == 2
    np.testing.assert_array_equal(ds["det1"].values, bt[rich.scan].table("baseline")["det1"])


def test_config_reads_each_device_as_a_dataset_per_descriptor(bt, rich) -> None:
    run = bt[rich.scan]
    config = run.primary.config
    assert set(config) == {"det", "motor", "direct"}
    ds = config["det"].read()
    assert ds.sizes["time"] == 1
    expected = run.config("primary", device="det")[0]
    assert {k: ds[k].values[0].item() for k in ds.data_vars} == expected


def test_stream_metadata_is_the_first_descriptor_as_tiledwriter_keeps_it(bt, rich) -> None:
    stream = bt[rich.scan].primary
    (descriptor,) = stream.descriptors
    assert stream.metadata == {k: v for k, v in descriptor.items()
                               if k not in {"name", "object_keys", "run_start"}}


def test_read_without_xarray_names_the_xarray_extra(rich: RichBeamtime, tmp_path: Path) -> None:
    from ..test_optional_parts import run_python

    result = run_python(f"""
        from resonance_callback import open_beamtime
        from resonance_callback.errors import MissingExtraError
        with open_beamtime({str(rich.db)!r}) as bt:
            try:
                bt[{rich.scan!r}].primary.read()
            except MissingExtraError as exc:
                print(isinstance(exc, ImportError), exc, sep="|")
        """, blocked=("xarray",))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("True|reading a stream as a Dataset needs xarray: "
                             "pip install 'resonance-callback[xarray]'\n")
