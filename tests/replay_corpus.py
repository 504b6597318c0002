"""Runs of every kind the test suite makes, stored live and kept as documents.

``record_corpus`` runs plans on a real RunEngine with the live callback and a
document capture subscribed: ophyd.sim count, scan, snake grid scan, baseline
and monitor streams, 2-D ``direct_img`` frames, an aborted and a failed run,
``img`` frames in NPY_SEQ files, and an ophyd-async SimBlobDetector step scan
and fly scan writing HDF5. ``record_interleaved`` makes two runs open at once.
The detector files stay in the directory, for replays to read.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import pytest
from bluesky import RunEngine
from bluesky.utils import FailedStatus, RunEngineInterrupted
from ophyd.sim import SynAxis, det, det4, direct_img, motor, motor1, motor2

from resonance_callback import RunWriterCallback

from .beamtime_dump import dump_beamtime
from .external.test_external import blob_detector, fly_plan
from .replay.test_formats import BY_ID, two_interleaved_runs, write

Docs = list[tuple[str, dict[str, Any]]]


@dataclass
class Corpus:
    """Documents of some runs and the beamtime the live callback wrote from them."""

    docs: Docs
    db_path: Path
    directory: Path

    def of(self, name: str) -> list[dict[str, Any]]:
        return [doc for n, doc in self.docs if n == name]

    def runs(self) -> list[Docs]:
        """The documents split per run (runs one after the other)."""
        out: list[Docs] = []
        for name, doc in self.docs:
            if name == "start":
                out.append([])
            out[-1].append((name, doc))
        return out


def _monitored() -> Any:
    sigma = det.sigma.get()
    det.sigma.put(1.0)

    @bpp.run_decorator(md={"plan_name": "monitored"})
    def plan() -> Any:
        yield from bps.monitor(det.sigma, name="det_sigma_monitor")
        for value in (2.0, 3.0):
            yield from bps.trigger_and_read([det])
            yield from bps.mv(det.sigma, value)
        yield from bps.unmonitor(det.sigma)
        yield from bps.mv(det.sigma, sigma)  # the shared ophyd.sim det as it was

    return (yield from plan())


def _aborted() -> Any:
    yield from bps.open_run(md={"plan_name": "aborted"})
    yield from bps.checkpoint()
    yield from bps.trigger_and_read([det])
    yield from bps.pause()
    yield from bps.close_run()


def _failed() -> Any:
    yield from bps.open_run(md={"plan_name": "failed"})
    yield from bps.trigger_and_read([det])
    raise ValueError("the plan broke")


def _plans(files: Path) -> list[tuple[Any, dict[str, Any]]]:
    from ophyd.sim import SynSignalWithRegistry

    from .external.test_external import varying_frames

    (files / "npy").mkdir(parents=True, exist_ok=True)
    img = SynSignalWithRegistry(func=varying_frames(), name="img", save_path=str(files / "npy"))
    step = blob_detector(_made(files / "step"))
    fly = blob_detector(_made(files / "fly"))
    return [
        (bp.count([det], num=3), {"sample": "PS-1"}),
        (bp.scan([det], motor, -1, 1, 5), {"sample": {"name": "Au foil", "thickness_um": 5}}),
        (bp.grid_scan([det4], motor1, 0, 1, 3, motor2, 0, 1, 2, snake_axes=True), {}),
        (bpp.baseline_wrapper(bp.count([det], num=2), [motor1, motor2]), {}),
        (_monitored(), {}),
        (bp.count([direct_img, det], num=3), {"sample": "Si wafer"}),
        (_aborted(), {}),
        (_failed(), {}),
        (bp.scan([img], SynAxis(name="axis"), 0, 1, 3), {}),
        (bp.count([step], num=3), {}),
        (fly_plan(fly, 4, 1), {}),
    ]


def _made(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _run_all(RE: RunEngine, plans: list[tuple[Any, dict[str, Any]]], db_path: Path) -> Docs:
    docs: Docs = []
    with RunWriterCallback(db_path) as callback:
        tokens = [RE.subscribe(lambda name, doc: docs.append((name, copy.deepcopy(doc)))),
                  RE.subscribe(callback)]
        try:
            for plan, md in plans:
                try:
                    RE(plan, **md)
                except RunEngineInterrupted:
                    RE.abort(reason="sample fell off")
                except (ValueError, FailedStatus):
                    pass  # the failed run: stored with exit_status failed
        finally:
            for token in tokens:
                RE.unsubscribe(token)
    return docs


def record_corpus(RE: RunEngine, directory: Path) -> Corpus:
    """Run one plan of every kind; return the documents and the live beamtime."""
    db_path = directory / "live.db"
    docs = _run_all(RE, _plans(directory / "files"), db_path)
    return Corpus(docs, db_path, directory)


def record_interleaved(RE: RunEngine, directory: Path) -> Corpus:
    """Two runs open at once, stored live."""
    db_path = directory / "live.db"
    return Corpus(_run_all(RE, [(two_interleaved_runs(), {})], db_path), db_path, directory)


@pytest.fixture(scope="session")
def kinds(run_engine: RunEngine, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Runs of every kind, stored live (shared: copy before changing anything)."""
    return record_corpus(run_engine, tmp_path_factory.mktemp("kinds"))


@pytest.fixture(scope="session")
def kinds_dump(kinds: Corpus) -> dict[str, Any]:
    """The live beamtime of ``kinds``, dumped."""
    return dump_beamtime(kinds.db_path)


@pytest.fixture(scope="session")
def interleaved(run_engine: RunEngine, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Two runs open at once, stored live."""
    return record_interleaved(run_engine, tmp_path_factory.mktemp("interleaved"))


# -- saved streams -----------------------------------------------------------------------

#: The saved-stream shapes replayed: id -> (test_formats writer id, gzipped).
FORMATS = {
    "suitcase-jsonl": ("suitcase-jsonl", False),
    "jsonl-objects": ("tiled-json-seq", False),
    "json-seq": ("json-seq", False),
    "json-array": ("array-of-objects", False),
    "suitcase-msgpack": ("suitcase-msgpack", False),
    "json-seq-gzip": ("json-seq", True),
}


def save(fmt: str, docs: Docs, directory: Path) -> Path:
    """Write ``docs`` in format ``fmt`` under ``directory``; return what to replay.

    suitcase-msgpack keeps no stream_resource or stream_datum documents, so the
    runs that have them (ophyd-async) are saved beside it as json-seq, in a
    directory replayed as one stream (files sorted by name: run order kept).
    """
    writer_id, gzipped = FORMATS[fmt]
    if writer_id != "suitcase-msgpack":
        return write(BY_ID[writer_id], docs, directory, gzipped)
    runs = Corpus(docs, directory, directory).runs()
    cut = next((i for i, run in enumerate(runs)
                if any(n == "stream_resource" for n, _ in run)), len(runs))
    assert all(any(n == "stream_resource" for n, _ in run) for run in runs[cut:])
    saved = directory / "saved"
    saved.mkdir(parents=True)
    parts = [(write(BY_ID["suitcase-msgpack"], sum(runs[:cut], []), directory / "msgpack"),
              "00-runs.msgpack")]
    if cut < len(runs):
        parts.append((write(BY_ID["json-seq"], sum(runs[cut:], []), directory / "seq"),
                      "01-ophyd-async.json-seq"))
    for path, name in parts:
        shutil.copyfile(path, saved / name)
    return saved
