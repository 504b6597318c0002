"""``RejectedDocument``: a document the writer kept aside, as ``Run.rejected()`` returns it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.store import BeamtimeReader, run_queries

__all__ = ["RejectedDocument", "rejected_documents"]


@dataclass(frozen=True)
class RejectedDocument:
    """A document the writer could not store as it came, with the reason."""

    name: str
    uid: str | None
    reason: str
    document: dict[str, Any]
    time: float


def rejected_documents(reader: BeamtimeReader, run_uid: str) -> list[RejectedDocument]:
    """Return the documents of run ``run_uid`` that were rejected, in arrival order."""
    rows = run_queries.rejected_rows(reader, run_uid)
    return [RejectedDocument(n, u, reason, jsoncodec.loads(doc), t)
            for n, u, reason, doc, t in rows]
