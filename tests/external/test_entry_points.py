"""Handlers are found as databroker finds them: installed packages' entry points, then ours.

``handler_pkg/`` is a small package offering spec ``RC_RAW`` in the
``databroker.handlers`` entry-point group, laid out as installed (its dist-info
beside it); the tests put a copy of it on ``sys.path`` and never touch our registry.
"""

from __future__ import annotations

import shutil
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import bluesky.plans as bp
import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from ophyd.sim import SynSignalWithRegistry

from resonance_callback import RunWriterCallback
from resonance_callback.cli import main
from resonance_callback.errors import ExternalDataError
from resonance_callback.external import ENTRY_POINT_GROUP, OURS_INSTEAD, ExternalResolver

from ..conftest import Captured, sql
from .test_detector_files import assert_same, stored_frames, unresolved

PACKAGE = Path(__file__).parent / "handler_pkg"


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The test package, installed into a directory on sys.path for this test only."""
    site = tmp_path / "site-packages"
    shutil.copytree(PACKAGE, site, ignore=shutil.ignore_patterns("pyproject.toml",
                                                                  "__pycache__"))
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("rc_raw_handlers", None)


class RawSignal(SynSignalWithRegistry):
    """ophyd.sim's registry signal saving raw bytes, spec RC_RAW, TiledWriter parameters too."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, save_func=lambda path, array: array.tofile(path),
                         save_spec="RC_RAW", save_ext="raw", **kwargs)

    def stage(self):
        staged = super().stage()
        _, resource = self._asset_docs_cache[-1]
        resource["resource_kwargs"].update(dtype="<u2", shape=[4, 5],  # what frames() makes
                                           chunk_shape=[1], join_method="stack")
        return staged


def frames(shape=(4, 5), dtype="<u2"):
    counter = iter(range(1, 100))
    return lambda: (np.arange(np.prod(shape)).reshape(shape) * next(counter)).astype(dtype)


def test_a_handler_installed_through_the_entry_point_reads_its_spec(RE, tmp_path, installed):
    assert any(p.name == "RC_RAW" for p in entry_points(group=ENTRY_POINT_GROUP))
    files = tmp_path / "detector"
    files.mkdir()
    img = RawSignal(func=frames(), name="img", save_path=str(files))
    docs = Captured()
    db = tmp_path / "beamtime.db"
    with RunWriterCallback(db) as callback:
        RE(bp.count([img], num=3), [callback, docs])
    datums = {d["datum_id"]: d for d in docs.of("datum")}
    (resource,) = docs.of("resource")
    expected = {}
    for event in docs.events():
        index = datums[event["data"]["img"]]["datum_kwargs"]["index"]
        path = files / f"{resource['resource_path']}_{index}.raw"
        expected[event["seq_num"]] = np.fromfile(path, dtype="<u2").reshape(4, 5)
    shutil.rmtree(files)
    assert_same(stored_frames(db, docs.of("start")[0]["uid"], "img"), expected)
    assert unresolved(db) == []


def test_handler_registry_overrides_an_installed_handler(tmp_path, installed):
    class Constant:
        def __init__(self, path, **kwargs):
            pass

        def __call__(self, index):
            return np.full(2, index, dtype=np.int8)

    resolver = ExternalResolver({"RC_RAW": Constant})
    resolver.add_resource({"uid": "r", "spec": "RC_RAW", "root": str(tmp_path),
                           "resource_path": "x", "resource_kwargs": {"dtype": "<u2"}})
    resolver.add_datum({"datum_id": "r/0", "resource": "r", "datum_kwargs": {"index": 3}})
    assert resolver.fill("r/0", wait=0).tolist() == [3, 3]


def test_entry_points_are_read_at_the_first_lookup_not_when_the_resolver_is_made(
        tmp_path, monkeypatch):
    resolver = ExternalResolver()  # a callback's, made before the package is installed
    site = tmp_path / "site-packages"
    shutil.copytree(PACKAGE, site, ignore=shutil.ignore_patterns("pyproject.toml",
                                                                  "__pycache__"))
    monkeypatch.syspath_prepend(str(site))
    try:
        frame = np.arange(20, dtype="<u2").reshape(4, 5)
        frame.tofile(tmp_path / "f_7.raw")
        resolver.add_resource({"uid": "r", "spec": "RC_RAW", "root": str(tmp_path),
                               "resource_path": "f",
                               "resource_kwargs": {"dtype": "<u2", "shape": [4, 5]}})
        resolver.add_datum({"datum_id": "r/7", "resource": "r", "datum_kwargs": {"index": 7}})
        assert np.array_equal(resolver.fill("r/7", wait=0), frame)
    finally:
        sys.modules.pop("rc_raw_handlers", None)


def test_without_the_package_its_spec_is_recorded_and_reported_by_check(RE, tmp_path):
    assert not any(p.name == "RC_RAW" for p in entry_points(group=ENTRY_POINT_GROUP))
    files = tmp_path / "detector"
    files.mkdir()
    img = RawSignal(func=frames(), name="img", save_path=str(files))
    db = tmp_path / "beamtime.db"
    with RunWriterCallback(db) as callback:
        RE(bp.count([img], num=2), callback)
    [(name, reason)] = sql(db, "SELECT name, reason FROM rejected_documents")
    assert name == "resource" and "no handler for spec 'RC_RAW'" in reason
    assert "databroker.handlers" in reason
    assert [(f, s) for f, s, _, _ in unresolved(db)] == [("img", 1), ("img", 2)]
    result = CliRunner().invoke(main, ["check", str(db)])
    assert result.exit_code == 1
    assert "RC_RAW" in result.output


def test_ecosystem_handlers_we_read_better_are_left_out_and_the_others_used():
    area_detector_handlers = pytest.importorskip("area_detector_handlers")
    resolver = ExternalResolver()
    installed = {p.name: p.value for p in entry_points(group=ENTRY_POINT_GROUP)}
    assert installed["AD_TIFF"] in OURS_INSTEAD and installed["NPY_SEQ"] in OURS_INSTEAD
    ours = resolver.handler_registry
    assert ours["AD_TIFF"].__module__.startswith("resonance_callback")
    assert ours["AD_HDF5"].__module__.startswith("resonance_callback")
    resolver.add_resource({"uid": "x", "spec": "XSP3", "root": "/", "resource_path": "x.h5",
                           "resource_kwargs": {}})
    assert resolver.handler_registry["XSP3"].__module__.startswith(
        area_detector_handlers.__name__)


def write_xspress3(path: Path, spectra: np.ndarray) -> None:
    """An Xspress3 file as the area-detector plugin lays it out: (frame, channel, bin)."""
    with h5py.File(path, "w") as f:
        f["entry/instrument/detector/data"] = spectra


def test_xsp3_is_read_by_area_detector_handlers_and_a_file_growing_is_read_again(tmp_path):
    pytest.importorskip("area_detector_handlers")
    spectra = np.arange(3 * 2 * 8, dtype=np.float32).reshape(3, 2, 8)
    write_xspress3(tmp_path / "xs.h5", spectra[:1])
    resolver = ExternalResolver()
    resolver.add_resource({"uid": "x", "spec": "XSP3", "root": str(tmp_path),
                           "resource_path": "xs.h5", "resource_kwargs": {}})
    for frame in range(3):
        resolver.add_datum({"datum_id": f"x/{frame}", "resource": "x",
                            "datum_kwargs": {"frame": frame, "channel": 2}})
    first = resolver.fill("x/0", wait=0, shape=[8])
    assert first.dtype == np.float32 and first.tolist() == spectra[0, 1].tolist()
    with pytest.raises(ExternalDataError, match="not readable"):
        resolver.fill("x/2", wait=0)  # not written yet; the handler read the file at x/0
    write_xspress3(tmp_path / "xs.h5", spectra)
    np.testing.assert_array_equal(resolver.fill("x/2", wait=0, shape=[8]), spectra[2, 1])
    assert resolver.handler_registry["XSP3"].__module__.startswith("area_detector_handlers")


def test_a_handler_missing_a_package_fails_at_once_naming_it(tmp_path):
    class NeedsFabio:  # as area-detector-handlers' AD_CBF handler does without fabio
        def __init__(self, path, **kwargs):
            pass

        def __call__(self, point_number):
            raise ImportError("The AD_CBF handler requires fabio to be installed.")

    resolver = ExternalResolver({"AD_CBF": NeedsFabio}, timeout=30)
    resolver.add_resource({"uid": "c", "spec": "AD_CBF", "root": str(tmp_path),
                           "resource_path": "", "resource_kwargs": {}})
    resolver.add_datum({"datum_id": "c/0", "resource": "c", "datum_kwargs": {"point_number": 0}})
    started = time.monotonic()
    with pytest.raises(ExternalDataError, match="ImportError: .*requires fabio"):
        resolver.fill("c/0")
    assert time.monotonic() - started < 5  # not retried for the 30 s timeout
