"""NeXus/HDF5 export of real RunEngine runs, read back with h5py and nexusformat."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import h5py
import nexusformat.nexus as nx
import numpy as np
import pytest
from bluesky import RunEngine
from bluesky import plans as bp
from ophyd.sim import SynSignal, hw

from resonance_callback import RunWriterCallback, jsoncodec, open_beamtime
from resonance_callback.read import _nexus, export_nexus

from ..export_beamtime import ExportBeamtime, record


@pytest.fixture(scope="module")
def beamtime(tmp_path_factory: pytest.TempPathFactory) -> ExportBeamtime:
    return record(tmp_path_factory.mktemp("nexus"))


def write(beamtime: ExportBeamtime, uid: str, path: Path) -> Path:
    with open_beamtime(beamtime.db) as bt:
        return export_nexus(bt[uid], path)


def test_each_stream_is_kept_field_by_field_with_its_documents_and_configuration(
        beamtime: ExportBeamtime, tmp_path: Path) -> None:
    path = write(beamtime, beamtime.grid, tmp_path / "grid.nxs")
    with open_beamtime(beamtime.db) as bt, h5py.File(path, "r") as f:
        run = bt[beamtime.grid]
        entry = f["entry"]
        assert f.attrs["NX_class"] == "NXroot" and f.attrs["default"] == "entry"
        assert entry.attrs["NX_class"] == "NXentry"
        assert entry["entry_identifier"].asstr()[()] == run.uid
        primary = entry["streams/primary"]
        table = run.table()
        for column in ("seq_num", "time", "det4", "motor1", "motor2"):
            np.testing.assert_array_equal(primary[column][()], table[column].to_numpy())
        assert jsoncodec.loads(entry["documents/start"].asstr()[()]) == run.start
        assert jsoncodec.loads(entry["documents/stop"].asstr()[()]) == run.stop
        descriptors = entry["documents/descriptors/primary"].asstr()[()]
        assert json.loads(descriptors) == run.descriptors("primary")
        config = run.config("primary", "motor1")[0]
        velocity = entry["configuration/primary/motor1/motor1_velocity"][()]
        assert velocity == config["motor1_velocity"]
        np.testing.assert_array_equal(entry["timestamps/primary/ts_det4"][()],
                                      run.table(timestamps=True)["ts_det4"].to_numpy())


def test_default_plot_takes_its_signal_from_the_hints_and_links_the_stream_fields(
        beamtime: ExportBeamtime, tmp_path: Path) -> None:
    path = write(beamtime, beamtime.scan, tmp_path / "scan.nxs")
    with h5py.File(path, "r") as f:
        data = f["entry/data"]
        assert f["entry"].attrs["default"] == "data" and data.attrs["NX_class"] == "NXdata"
        assert data.attrs["signal"] == "det"
        assert list(data.attrs["axes"]) == ["motor"] and data.attrs["motor_indices"] == 0
        assert data["det"] == f["entry/streams/primary/det"]  # a link, stored once
    root = nx.nxload(str(path))
    try:
        plotted = root["entry"].plottable_data
        assert plotted.nxsignal.nxname == "det"
        assert [axis.nxname for axis in plotted.nxaxes] == ["motor"]
        with open_beamtime(beamtime.db) as bt:
            table = bt[beamtime.scan].table()
        np.testing.assert_array_equal(plotted.nxsignal.nxvalue, table["det"].to_numpy())
        np.testing.assert_array_equal(plotted.nxaxes[0].nxvalue, table["motor"].to_numpy())
    finally:
        root.nxfile.close()


def test_snaking_grid_scan_is_laid_out_on_its_grid_with_an_axis_per_dimension(
        beamtime: ExportBeamtime, tmp_path: Path) -> None:
    path = write(beamtime, beamtime.grid, tmp_path / "grid.nxs")
    with open_beamtime(beamtime.db) as bt:
        table = bt[beamtime.grid].table()
    expected = np.empty((3, 4))
    for _, row in table.iterrows():  # each event at its motors' grid point
        i = int(round(row["motor1"])) + 1
        j = int(round((row["motor2"] + 1) * 1.5))
        expected[i, j] = row["det4"]
    root = nx.nxload(str(path))
    try:
        plotted = root["entry"].plottable_data
        assert plotted.nxsignal.nxname == "det4"
        assert [axis.nxname for axis in plotted.nxaxes] == ["motor1", "motor2"]
        np.testing.assert_allclose(plotted.nxsignal.nxvalue, expected)
        np.testing.assert_allclose(plotted.nxaxes[0].nxvalue, [-1, 0, 1])
        np.testing.assert_allclose(plotted.nxaxes[1].nxvalue, [-1, -1 / 3, 1 / 3, 1])
        assert plotted.attrs["motor2_indices"] == 1
    finally:
        root.nxfile.close()


def test_grid_scan_cut_short_leaves_nan_where_no_event_was(tmp_path: Path) -> None:
    sim = hw()
    calls = iter(range(100))
    flaky = SynSignal(func=lambda: 1.0 if next(calls) < 5 else 1 / 0, name="flaky")
    RE = RunEngine({})  # noqa: N806
    with RunWriterCallback(tmp_path / "bt.db") as callback:
        RE.subscribe(callback)
        with pytest.raises(ZeroDivisionError):
            RE(bp.grid_scan([flaky], sim.motor1, 0, 1, 3, sim.motor2, 0, 1, 3))
    with open_beamtime(tmp_path / "bt.db") as bt:
        export_nexus(bt[-1], tmp_path / "cut.nxs")
    with h5py.File(tmp_path / "cut.nxs", "r") as f:
        values = f["entry/data/flaky"][()]
        np.testing.assert_allclose(f["entry/data/motor2"][()], [0, 0.5, 1])
    assert values.shape == (3, 3)
    assert np.count_nonzero(np.isnan(values)) == 9 - len(values[~np.isnan(values)])
    assert not np.isnan(values[0]).any() and np.isnan(values[2]).all()


@pytest.mark.parametrize("which", ["frames", "async_frames"])
def test_frames_are_chunked_compressed_and_equal_the_stored_frames(
        beamtime: ExportBeamtime, tmp_path: Path, which: str) -> None:
    uid = getattr(beamtime, which)
    path = write(beamtime, uid, tmp_path / f"{which}.nxs")
    with open_beamtime(beamtime.db) as bt, h5py.File(path, "r") as f:
        run = bt[uid]
        [field] = run.image_fields()
        stored = np.asarray(run.images(field))
        dataset = f[f"entry/streams/primary/{field}"]
        assert dataset.shape == stored.shape and dataset.dtype == stored.dtype
        assert dataset.chunks == (1, *stored.shape[1:])
        assert dataset.compression == "gzip"
        np.testing.assert_array_equal(dataset[()], stored)
    root = nx.nxload(str(path))
    try:
        signal = root["entry"].plottable_data.nxsignal
        assert signal.shape[0] == len(stored)
    finally:
        root.nxfile.close()


def test_frame_signal_gives_its_own_dimensions_no_axis(beamtime: ExportBeamtime,
                                                        tmp_path: Path) -> None:
    path = write(beamtime, beamtime.async_frames, tmp_path / "async.nxs")
    with h5py.File(path, "r") as f:
        data = f["entry/data"]
        assert data.attrs["signal"] == "blob"
        frame_dims = data["blob"].ndim - 1
        assert frame_dims >= 2
        assert list(data.attrs["axes"]) == ["stage-x", *["."] * frame_dims]
        assert data.attrs["stage-x_indices"] == 0


def test_sample_goes_to_an_nxsample_group(beamtime: ExportBeamtime, tmp_path: Path) -> None:
    path = write(beamtime, beamtime.grid, tmp_path / "grid.nxs")
    root = nx.nxload(str(path))
    try:
        sample = root["entry/sample"]
        assert sample.nxclass == "NXsample"
        assert sample["name"].nxvalue == "gold foil"
        assert sample["chemical_formula"].nxvalue == "Au"
        assert json.loads(sample["metadata"].nxvalue) == {"thickness_um": 25}
    finally:
        root.nxfile.close()


def test_several_runs_go_to_one_file_an_entry_each(beamtime: ExportBeamtime,
                                                    tmp_path: Path) -> None:
    with open_beamtime(beamtime.db) as bt:
        runs = [bt[beamtime.grid], bt[beamtime.frames], bt[beamtime.scan]]
        export_nexus(runs, tmp_path / "all.nxs")
        names = [f"scan{run.scan_id:05d}_{run.uid[:8]}" for run in runs]
    root = nx.nxload(str(tmp_path / "all.nxs"))
    try:
        assert sorted(root.entries) == sorted(names)
        assert root.attrs["default"] == names[0]
        assert [root[n]["entry_identifier"].nxvalue for n in names] == [
            beamtime.grid, beamtime.frames, beamtime.scan]
    finally:
        root.nxfile.close()


def test_frames_are_written_a_block_at_a_time_never_the_whole_run_in_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    big = SynSignal(func=lambda: rng.random((256, 256)), name="big")  # 512 KiB a frame
    RE = RunEngine({})  # noqa: N806
    with RunWriterCallback(tmp_path / "bt.db", codec="none") as callback:
        RE.subscribe(callback)
        (uid,) = RE(bp.count([big], num=64))  # 32 MiB of frames
    monkeypatch.setattr(_nexus, "BLOCK_BYTES", 2 << 20)
    with open_beamtime(tmp_path / "bt.db") as bt:
        run = bt[uid]
        assert run.image_fields() == ["big"]
        tracemalloc.start()
        try:
            export_nexus(run, tmp_path / "big.nxs")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        with h5py.File(tmp_path / "big.nxs", "r") as f:
            np.testing.assert_array_equal(f["entry/streams/primary/big"][-1],
                                          run.images("big")[-1])
    assert peak < 12 << 20, f"peak {peak / 2**20:.1f} MiB for 32 MiB of frames"


def test_field_and_stream_names_that_clash_with_the_layout_still_export(tmp_path: Path) -> None:
    from bluesky import plan_stubs as bps
    from bluesky import preprocessors as bpp

    clashing = [SynSignal(func=lambda: 2.0, name=name, kind="hinted")
                for name in ("descriptors", "configuration", "timestamps", "data")]

    @bpp.run_decorator()
    def plan() -> object:
        yield from bps.trigger_and_read(clashing)
        yield from bps.trigger_and_read(clashing[:1], name="odd/stream")

    RE = RunEngine({})  # noqa: N806
    with RunWriterCallback(tmp_path / "bt.db") as callback:
        RE.subscribe(callback)
        RE(plan())
    with open_beamtime(tmp_path / "bt.db") as bt:
        export_nexus(bt[-1], tmp_path / "odd.nxs")
    with h5py.File(tmp_path / "odd.nxs", "r") as f:
        for name in ("descriptors", "configuration", "timestamps", "data"):
            assert f[f"entry/streams/primary/{name}"][()].tolist() == [2.0]
        assert f["entry/streams/odd_stream/descriptors"][()].tolist() == [2.0]
        assert f["entry/data"].attrs["signal"] == "descriptors"


def test_a_grid_shape_too_large_to_lay_out_stays_flat(tmp_path: Path) -> None:
    sim = hw()
    RE = RunEngine({})  # noqa: N806
    with RunWriterCallback(tmp_path / "bt.db") as callback:
        RE.subscribe(callback)
        RE(bp.grid_scan([sim.det4], sim.motor1, 0, 1, 2, sim.motor2, 0, 1, 2,
                        md={"shape": [10**9, 10**9]}))
    with open_beamtime(tmp_path / "bt.db") as bt:
        export_nexus(bt[-1], tmp_path / "flat.nxs")
    with h5py.File(tmp_path / "flat.nxs", "r") as f:
        assert f["entry/data/det4"].shape == (4,)
        assert list(f["entry/data"].attrs["axes"]) == ["motor1"]
