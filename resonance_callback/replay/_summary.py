"""What a replay read, stored, skipped and found damaged: :class:`ReplaySummary`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from resonance_callback.replay.formats import Damaged

__all__ = ["DAMAGED_KEPT", "DAMAGED_SHOWN", "ReplaySummary", "damage_report"]

#: Damaged records a summary lists (all are counted, and all are kept in the beamtime).
DAMAGED_KEPT = 1000
#: Damaged records :meth:`ReplaySummary.lines` shows.
DAMAGED_SHOWN = 20


def damage_report(damaged: Damaged) -> str:
    """One line naming a damaged record: file, line, bytes and what is wrong."""
    size = "" if damaged.length is None else f", {damaged.length} bytes"
    lost = "; the rest of the file is not read" if damaged.rest_lost else ""
    seen = f"; starts {damaged.excerpt[:40]!r}" if damaged.excerpt else ""
    return f"{damaged.message} (byte {damaged.offset}{size}{seen}){lost}"


@dataclass
class ReplaySummary:
    """What :func:`~resonance_callback.replay.replay` read and what it changed in the beamtime.

    Attributes
    ----------
    db_path : str
        The beamtime database.
    files : list of str
        The files read, in order (``"<stdin>"`` for standard input).
    documents : int
        Documents read.
    runs : int
        ``start`` documents read.
    runs_added : int
        Runs new to the database.
    runs_resumed : int
        Runs whose start was already stored (complete, or completed now).
    runs_open : list of str
        Uids of runs started but not stopped in the stream (left open).
    events : int
        Events read (event documents and the rows of event pages).
    events_added, frames_added : int
        ``events`` and ``image_refs`` rows added to the database.
    already_stored : int
        Documents skipped because identical ones were stored.
    rejected : int
        Documents rejected (kept in ``rejected_documents`` with the reason).
    seconds : float
        Time taken.
    bytes_read, bytes_total : int, int or None
        Bytes of the source's files read so far, of their total size (None
        when it is not known: standard input, a pipe).
    error : str or None
        The first damaged record's report (and how many there were), or None.
    damaged_count : int
        Damaged records met (lines, records or files that could not be read);
        each is kept in ``rejected_documents`` under the name ``"damaged"``.
    damaged : list of Damaged
        The first :data:`DAMAGED_KEPT` of them: file, line, byte offset and
        size, reason and the first bytes.
    interrupted : bool
        True when the replay was stopped (Ctrl-C) before the end of the source.
    """

    db_path: str
    files: list[str] = field(default_factory=list)
    documents: int = 0
    runs: int = 0
    runs_added: int = 0
    runs_resumed: int = 0
    runs_open: list[str] = field(default_factory=list)
    events: int = 0
    events_added: int = 0
    frames_added: int = 0
    already_stored: int = 0
    rejected: int = 0
    seconds: float = 0.0
    bytes_read: int = 0
    bytes_total: int | None = None
    error: str | None = None
    damaged_count: int = 0
    damaged: list[Damaged] = field(default_factory=list)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        """True if the whole stream was read, nothing damaged and no document rejected."""
        return (self.error is None and not self.rejected and not self.damaged_count
                and not self.interrupted)

    def add_damaged(self, damaged: Damaged) -> None:
        """Count a damaged record; list it among the first :data:`DAMAGED_KEPT`."""
        self.damaged_count += 1
        if len(self.damaged) < DAMAGED_KEPT:
            self.damaged.append(damaged)

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-able data, with ``ok``."""
        data = asdict(self)
        data["damaged"] = [item._asdict() for item in self.damaged]
        return {"ok": self.ok, **data}

    def damage_errors(self) -> list[str]:
        """The damage as error lines: each of the first few names file and line."""
        out = [item.message for item in self.damaged[:DAMAGED_SHOWN]]
        if self.damaged_count > DAMAGED_SHOWN:
            out.append(f"{self.damaged_count - DAMAGED_SHOWN} more damaged record(s), kept in "
                       f"rejected_documents as 'damaged'")
        return out

    def lines(self) -> list[str]:
        """The summary as text lines for a terminal."""
        rate = self.documents / self.seconds if self.seconds > 0 else 0.0
        out = [f"Replayed {self.documents} documents from {len(self.files)} file(s) into "
               f"{self.db_path} in {self.seconds:.1f} s ({rate:.0f} documents/s)"]
        out.append(f"runs: {self.runs} read, {self.runs_added} added, "
                   f"{self.runs_resumed} already stored")
        if self.runs_open:
            out.append(f"runs left open (no stop in the stream): {', '.join(self.runs_open)}")
        out.append(f"events: {self.events} read, {self.events_added} added; "
                   f"frames: {self.frames_added} added")
        out.append(f"already stored (skipped): {self.already_stored}; "
                   f"rejected documents: {self.rejected}")
        if self.damaged_count:
            out.append(f"damaged records (skipped, kept in rejected_documents as 'damaged'): "
                       f"{self.damaged_count}")
            out += [f"  {damage_report(item)}" for item in self.damaged[:DAMAGED_SHOWN]]
            if self.damaged_count > DAMAGED_SHOWN:
                out.append(f"  ... and {self.damaged_count - DAMAGED_SHOWN} more")
        return out
