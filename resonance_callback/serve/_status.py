"""What the service says: a periodic status line, counted rejections, structured logs.

The status line (logged every ``--status-interval`` seconds on the
``resonance_callback.serve`` logger) reads::

    status runs_open=1 documents=12034 docs_per_s=812.4 lag=37 rejected=0 errors=0
        acknowledged=12000 commit_p50_ms=310.2 commit_p99_ms=702.9

``lag`` is what the source holds for the service and it has not committed yet
(NATS: not delivered plus delivered and not acknowledged; ``-`` for 0MQ);
``commit_p50_ms`` / ``commit_p99_ms`` are the publish-to-commit latencies of the
documents committed since the previous line (NATS stamps the publish time). With
``--log-format json`` every log record is one JSON object per line, and the
status record carries its fields as members.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

__all__ = ["JsonFormatter", "RejectionCounter", "status_fields", "status_line"]


class RejectionCounter(logging.Handler):
    """Count the callbacks' ``rejected ...`` warning lines (one per rejected document)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count a rejection."""
        if record.name == "resonance_callback" and str(record.getMessage()).startswith(
                "rejected "):
            self.count += 1

    def install(self) -> None:
        """Listen on the callbacks' logger."""
        logging.getLogger("resonance_callback").addHandler(self)

    def remove(self) -> None:
        """Stop listening."""
        logging.getLogger("resonance_callback").removeHandler(self)


def status_fields(stats: Any, lag: int | None, rate: float,
                  latencies: list[float]) -> dict[str, Any]:
    """The status line's fields, from :class:`ServiceStats` and the latest latencies."""
    ordered = sorted(latencies)

    def ms(q: float) -> float | None:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) \
            if ordered else None

    return {"runs_open": stats.runs_open, "documents": stats.documents,
            "docs_per_s": round(rate, 1), "lag": lag, "rejected": stats.rejected,
            "errors": stats.errors, "acknowledged": stats.acknowledged,
            "commit_p50_ms": ms(0.50), "commit_p99_ms": ms(0.99)}


def status_line(fields: dict[str, Any]) -> str:
    """``status key=value ...`` (``-`` for an unknown value)."""
    return "status " + " ".join(f"{k}={'-' if v is None else v}" for k, v in fields.items())


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and status fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(),
        }
        status = getattr(record, "status", None)
        if isinstance(status, dict):
            out.update(status)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)
