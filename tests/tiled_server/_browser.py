"""Headless Chromium driven by Playwright, and the beamtime the browser view is tested on.

Playwright's own browser download does not work on our machines; Debian's
``chromium`` does (``.ci/run`` installs it). Without it the browser tests
fail, naming it: they are never skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bluesky import RunEngine
from bluesky.plans import count, scan
from ophyd.sim import det, motor

from resonance_callback import RunWriterCallback

from ..beamtime_fixture import failing_count
from ..external.test_detector_files import img_in

#: Where Chromium is looked for after $CHROMIUM and the PATH.
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium")
#: A sample name that runs script if the page ever puts it into HTML.
MARKUP = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
#: Points (and frames) of the scan the tests draw.
POINTS = 7


def chromium(candidates: tuple[str, ...] = CANDIDATES) -> str:
    """The Chromium executable: $CHROMIUM, ``chromium`` on the PATH, or a usual place.

    Fails the test (never skips it) when there is none, naming it and how to install it."""
    given = os.environ.get("CHROMIUM")
    found = given or shutil.which("chromium") or next(
        (c for c in candidates if os.access(c, os.X_OK)), None)
    if not found or not os.access(found, os.X_OK):
        pytest.fail("chromium is missing: the browser view's tests drive Debian's chromium "
                    "(apt-get install chromium, or set CHROMIUM=/path/to/chromium)",
                    pytrace=False)
    return found


@contextlib.contextmanager
def launched() -> Iterator[Any]:
    """A headless Chromium under Playwright (the ``playwright`` package of the test extra)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -e '.[test]'", pytrace=False)
    executable = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable,
                                             args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@dataclasses.dataclass(frozen=True)
class Viewed:
    db: Path
    counted: str  # count([det], 3) on "silicon"
    scanned: str  # scan of det and a varying image over motor, POINTS points, on MARKUP
    failed: str   # failing_count on "gold": exit status "fail"


def build_viewed(directory: Path) -> Viewed:
    """Write the three runs of :class:`Viewed` (scan ids 1, 2, 3) into ``directory``."""
    db = directory / "beamtime.db"
    RE = RunEngine({}, context_managers=[])
    callback = RunWriterCallback(db)
    RE.subscribe(callback)
    starts: list[str] = []
    RE.subscribe(lambda name, doc: starts.append(doc["uid"]), "start")
    try:
        RE(count([det], 3), sample="silicon")
        RE(scan([det, img_in(directory / "npy")], motor, -1, 1, POINTS), sample=MARKUP,
           note=MARKUP)
        with pytest.raises(RuntimeError, match="jammed"):
            RE(failing_count([det]), sample="gold")
    finally:
        callback.close()
    counted, scanned, failed = starts
    return Viewed(db, counted, scanned, failed)
