"""One beamtime written by a real RunEngine with every kind of data the readers serve.

Runs (in order): a motor scan with a scalar detector, an image that comes inside
the events (``direct_img``) and a baseline stream, on sample "silicon"; a count
of an ``ophyd.sim`` image saved to ``.npy`` files (detector files, copied into
Zarr) on "gold foil"; an ophyd-async fly scan (``SimBlobDetector``, HDF5
stream resources, no events) on "gold foil".
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bluesky import RunEngine
from bluesky.plans import count, scan
from bluesky.preprocessors import SupplementalData
from ophyd.sim import det, det1, direct_img, motor

from resonance_callback import RunWriterCallback

from .external.test_detector_files import blob_in, img_in
from .external.test_external import fly_plan


@dataclasses.dataclass(frozen=True)
class RichBeamtime:
    db: Path
    scan: str
    files: str
    fly: str


def write_scan(RE: RunEngine, points: int = 5) -> str:
    (uid,) = RE(scan([det, direct_img], motor, -1, 1, points), sample="silicon",
                operator="ana", tags=["alignment"])
    return uid


def build_rich_beamtime(directory: Path) -> RichBeamtime:
    db = directory / "beamtime.db"
    RE = RunEngine({}, context_managers=[])
    callback = RunWriterCallback(db)
    RE.subscribe(callback)
    baseline = SupplementalData(baseline=[det1])
    RE.preprocessors.append(baseline)
    try:
        scan_uid = write_scan(RE)
        RE.preprocessors.remove(baseline)
        (files_uid,) = RE(count([img_in(directory / "npy")], 3), sample="gold foil",
                          operator="ben")
        (fly_uid,) = RE(fly_plan(blob_in(directory / "fly"), 4, 1), sample="gold foil")
    finally:
        callback.close()
    return RichBeamtime(db, scan_uid, files_uid, fly_uid)
