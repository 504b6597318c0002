"""What ``repair`` did and what it refused, and how a refused path is named on one line."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RepairReport", "link_refusal", "printable"]


def printable(text: object, limit: int = 200) -> str:
    """``text`` on one line: control characters escaped, cut to ``limit`` characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return shown if len(shown) <= limit else shown[:limit] + "..."


def link_refusal(path: Path | str) -> str:
    """The reason a symbolic link at ``path`` is not followed, naming where it points."""
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return f"is a symbolic link (to {printable(target)}); repair does not follow links"


@dataclass
class RepairReport:
    """What :func:`repair_beamtime` did; every list is empty when there was nothing to do.

    Attributes
    ----------
    db_path, zarr_path : str
        What was repaired.
    interrupted : list of str
        Uids of the runs marked ``interrupted`` now.
    trimmed : list of dict
        ``{"zarr_path", "from", "to"}`` per array cut back to its committed frames.
    orphan_chunks : int
        Chunk files removed (frames written after the last commit).
    trim_deferred : str
        Why no array was trimmed this time (a writer is alive: frames are only
        removed while no writer holds the beamtime); empty when they were.
    refused : list of dict
        ``{"path", "reason"}`` per thing left alone because following it could
        leave the beamtime: a writer token that is not one, a symbolic link, a
        lock file that is not a regular file.
    """

    db_path: str
    zarr_path: str
    interrupted: list[str] = field(default_factory=list)
    trimmed: list[dict[str, Any]] = field(default_factory=list)
    orphan_chunks: int = 0
    trim_deferred: str = ""
    refused: list[dict[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything was repaired."""
        return bool(self.interrupted or self.trimmed or self.orphan_chunks)

    def refuse(self, path: Path | str, reason: str) -> None:
        """Record that ``path`` was left alone, and why (once per path and reason)."""
        entry = {"path": str(path), "reason": reason}
        if entry not in self.refused:
            self.refused.append(entry)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return {"changed": self.changed, **asdict(self)}

    def lines(self) -> list[str]:
        """The report as text lines for a terminal (each one line, control characters escaped)."""
        out = [f"{self.db_path} (frames in {self.zarr_path})",
               f"runs marked interrupted: {len(self.interrupted)}"]
        out += [f"  run {uid}" for uid in self.interrupted]
        out.append(f"arrays trimmed to their committed frames: {len(self.trimmed)}")
        out += [f"  {t['zarr_path']}: {t['from']} -> {t['to']} frame(s)" for t in self.trimmed]
        out.append(f"orphan chunk files removed: {self.orphan_chunks}")
        if self.trim_deferred:
            out.append(f"arrays not trimmed: {self.trim_deferred}")
        if self.refused:
            out.append(f"refused (left alone): {len(self.refused)}")
            out += [f"  {r['path']}: {r['reason']}" for r in self.refused]
        out.append("repaired" if self.changed else "nothing to repair")
        return [printable(line, 10_000) for line in out]
