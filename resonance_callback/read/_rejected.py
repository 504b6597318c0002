"""``RejectedDocument``: a document the writer kept aside, as ``Run.rejected()`` returns it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RejectedDocument:
    """A document the writer could not store as it came, with the reason."""

    name: str
    uid: str | None
    reason: str
    document: dict[str, Any]
    time: float
