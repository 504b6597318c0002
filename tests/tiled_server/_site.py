"""A served directory of beamtimes, with a nested one and every kind of file that is no beamtime."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

from bluesky import RunEngine
from bluesky.plans import count
from ophyd.sim import det

from resonance_callback import RunWriterCallback

#: A value on which ``(a+)+$`` backtracks 2**40 times in a backtracking engine.
BACKTRACKS = "a" * 40 + "!"

#: The files in the site's top directory that are no beamtime, each with a word of its reason.
NOT_BEAMTIMES = {
    "notes.db": "not a database",      # text
    "truncated.db": "",                # the first page of a beamtime: opens, then fails
    "folder.db": "not a regular file",  # a directory
    "pipe.db": "not a regular file",   # a fifo: opening it would wait for a writer
    "other-app.db": "",                # another application's SQLite file
    "outside.db": "leads out of the served directory",  # a symlink to a beamtime elsewhere
}


@dataclasses.dataclass(frozen=True)
class Site:
    root: Path
    good: Path       # root/good.db: two runs
    nested: Path     # root/2026-03/inner.db: one run
    backtracks: str  # uid of the run whose start has note=BACKTRACKS
    plain: str       # uid of the other run of good.db
    inner: str       # uid of the nested run

    def digest(self) -> dict[str, str]:
        """Every regular file below the site's parent, by path, with the hash of its bytes."""
        out = {}
        for path in sorted(self.root.parent.rglob("*")):
            if path.is_file() and not path.is_symlink():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        return out


def _write(db: Path, **notes: str) -> list[str]:
    RE = RunEngine({}, context_managers=[])
    callback = RunWriterCallback(db)
    RE.subscribe(callback)
    try:
        return [RE(count([det], 2), note=note, sample=name)[0] for name, note in notes.items()]
    finally:
        callback.close()


def build_site(base: Path) -> Site:
    """Write the site below ``base`` and return it."""
    root = base / "site"
    (root / "2026-03").mkdir(parents=True)
    backtracks, plain = _write(root / "good.db", Si=BACKTRACKS, Cu="plain")
    (inner,) = _write(root / "2026-03" / "inner.db", Au="nested")
    (root / "notes.db").write_text("not a database, just notes\n")
    (root / "truncated.db").write_bytes((root / "good.db").read_bytes()[:4096])
    (root / "folder.db").mkdir()
    os.mkfifo(root / "pipe.db")
    conn = sqlite3.connect(root / "other-app.db")
    conn.execute("CREATE TABLE runs (id INTEGER, something TEXT)")
    conn.commit()
    conn.close()
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(root / "good.db", elsewhere / "secret.db")
    (root / "outside.db").symlink_to(elsewhere / "secret.db")
    return Site(root, root / "good.db", root / "2026-03" / "inner.db", backtracks, plain, inner)
