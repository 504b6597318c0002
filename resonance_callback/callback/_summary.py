"""One line per stored run, through :mod:`logging`, to show beside BestEffortCallback.

After a run's stop is committed, the writer logs (logger :data:`SUMMARY_LOGGER`,
level INFO) a line such as::

    stored scan 12: count, 10 events, 0 rejected -> beamtime.db
    stored scan 13 (aborted): scan, 7 events (primary 5, baseline 2), 1 rejected -> beamtime.db

It is off unless a user turns it on: ``logging.basicConfig(level=logging.INFO)``, or
:func:`show_run_summaries` (a handler on this logger only, so other libraries stay
quiet). With the logger off, nothing is counted and no job is queued. The line is
made on the writer's thread (with ``threaded=True`` the scan never waits for it),
from two counting queries; any failure is logged at DEBUG and never reaches the scan.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from resonance_callback.store import RowWriter, StopRow

__all__ = ["SUMMARY_LOGGER", "show_run_summaries", "summary_job", "summary_line"]

#: The logger of the per-run lines (a child of ``resonance_callback``).
SUMMARY_LOGGER = "resonance_callback.runs"

log = logging.getLogger(SUMMARY_LOGGER)


def summary_line(scan_id: object, uid: str, plan_name: object, exit_status: str,
                 streams: dict[str, int], rejected: int, db_path: Path) -> str:
    """The summary of one run, as logged (see the module's examples)."""
    run = f"scan {scan_id}" if scan_id is not None else f"run {uid[:8]}"
    status = "" if exit_status == "success" else f" ({exit_status})"
    events = sum(streams.values())
    per_stream = (f" ({', '.join(f'{name} {n}' for name, n in streams.items())})"
                  if len(streams) > 1 else "")
    return (f"stored {run}{status}: {plan_name or 'unknown plan'}, {events} event"
            f"{'' if events == 1 else 's'}{per_stream}, {rejected} rejected -> {db_path.name}")


def summary_job(start: dict[str, object], row: StopRow) -> Callable[[RowWriter], None] | None:
    """The writer job that logs ``row``'s run once stored; None while the logger is off."""
    if not log.isEnabledFor(logging.INFO):
        return None
    scan_id, plan_name = start.get("scan_id"), start.get("plan_name")

    def log_summary(writer: RowWriter) -> None:
        try:
            streams, rejected = writer.run_counts(row.run_uid)
            log.info("%s", summary_line(scan_id, row.run_uid, plan_name, row.exit_status,
                                        streams, rejected, writer.db_path))
        except Exception:  # a summary never fails the run it sums up
            log.debug("no summary of run %s", row.run_uid, exc_info=True)

    return log_summary


class _SummaryHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`show_run_summaries` adds (found again, so it is added once)."""


def show_run_summaries(stream: TextIO | None = None) -> logging.Handler:
    """Print a line per stored run, beside BestEffortCallback's tables.

    Sets the logger ``resonance_callback.runs`` to INFO and gives it a handler
    printing the bare message, so nothing else becomes verbose. Calling it again
    changes nothing. ``logging.basicConfig(level=logging.INFO)`` shows the same
    lines (with every library's INFO messages).

    Parameters
    ----------
    stream : file-like, optional
        Where the lines go; default ``sys.stdout``, where BestEffortCallback prints.

    Returns
    -------
    logging.Handler
        The handler (``logging.getLogger("resonance_callback.runs").removeHandler(h)``
        turns the lines off again).

    Examples
    --------
    >>> from resonance_callback.callback import show_run_summaries
    >>> handler = show_run_summaries()  # doctest: +SKIP
    >>> RE(count([det], 10))  # doctest: +SKIP
    stored scan 12: count, 10 events, 0 rejected -> beamtime.db
    """
    log.setLevel(logging.INFO)
    for handler in log.handlers:
        if isinstance(handler, _SummaryHandler):
            return handler
    handler = _SummaryHandler(sys.stdout if stream is None else stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    return handler
