"""A beamtime of real RunEngine runs for the export tests, recorded once per test module.

scan 1: ``grid_scan`` of ophyd.sim ``det4`` over ``motor1`` x ``motor2`` (snaking), its
sample given to the callback (``gold foil``, formula Au), not named by the start
document; scan 2: ``count`` of the image detector ``img`` (frames from .npy files)
and ``det``, sample named by the start document; scan 3: ``scan`` of ``det`` over
``motor`` with a sample dict; scan 4: an ophyd-async detector writing HDF5 (frames
from stream_resource / stream_datum documents), the callback's sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bluesky import RunEngine
from bluesky import plans as bp
from ophyd.sim import hw

from resonance_callback import RunWriterCallback, SampleMetadata

GOLD = SampleMetadata("gold foil", formula="Au", extra={"thickness_um": 25})


@dataclass
class ExportBeamtime:
    """The beamtime and the uids of its runs, by what they are."""

    db: Path
    grid: str
    frames: str
    scan: str
    async_frames: str


def record(directory: Path) -> ExportBeamtime:
    """Record the four runs into ``directory/bt.db``."""
    from ophyd_async import sim as async_sim
    from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider, init_devices

    directory = directory.absolute()
    (directory / "npy").mkdir(parents=True)
    (directory / "h5").mkdir()
    sim = hw(save_path=str(directory / "npy"))
    RE = RunEngine({})  # noqa: N806
    db = directory / "bt.db"
    with RunWriterCallback(db, sample=GOLD) as callback:
        RE.subscribe(callback)
        (grid,) = RE(bp.grid_scan([sim.det4], sim.motor1, -1, 1, 3, sim.motor2, -1, 1, 4,
                                  snake_axes=True))
        (frames,) = RE(bp.count([sim.img, sim.det], num=5), sample="silicon wafer")
        (scan,) = RE(bp.scan([sim.det], sim.motor, -1, 1, 5),
                     sample={"name": "PS-1", "formula": "C8H8"})
        pattern = async_sim.PatternGenerator()
        paths = StaticPathProvider(UUIDFilenameProvider(), directory / "h5")
        with init_devices():
            stage = async_sim.SimStage(pattern)
            blob = async_sim.SimBlobDetector(paths, pattern)
        (async_frames,) = RE(bp.scan([blob], stage.x, 0, 1, 3))
    return ExportBeamtime(db, grid, frames, scan, async_frames)
