"""The words of a beamtime, defined once: exit statuses and what a run's status filter means.

Every other module (the writer, the callback, the reader, the CLI, the master
index) takes these from here, so a status is spelled and mapped the same way
everywhere.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BLUESKY_EXIT_STATUSES",
    "EXIT_STATUSES",
    "INTERRUPTED",
    "OPEN",
    "STATUS_FILTERS",
    "exit_status_from_stop",
    "status_filter",
]

#: The values ``runs.exit_status`` takes once a run is closed (NULL while it is open).
EXIT_STATUSES = ("success", "aborted", "failed")

#: The status filter's word for a run with no stop yet (``exit_status`` NULL).
OPEN = "open"

#: ``runs.exit_status`` of a run left open by a writer that is gone (a crash, a kill):
#: set by ``repair`` and when a writer opens the beamtime, never by a stop document.
INTERRUPTED = "interrupted"

#: Every value a status filter accepts in our own spelling.
STATUS_FILTERS = (*EXIT_STATUSES, INTERRUPTED, OPEN)

#: A stop document's ``exit_status`` (event-model's enum) -> ``runs.exit_status``.
BLUESKY_EXIT_STATUSES = {"success": "success", "abort": "aborted", "fail": "failed"}


def exit_status_from_stop(value: Any) -> tuple[str, str | None]:
    """Map a stop document's ``exit_status`` to the stored one.

    Parameters
    ----------
    value : Any
        ``"success"``, ``"abort"`` or ``"fail"`` (event-model's spelling); the
        stored spelling (``"aborted"``, ``"failed"``) is accepted too.

    Returns
    -------
    tuple of (str, str or None)
        The stored status, and a note for the run's ``reason`` when ``value``
        was none of these: such a run is stored as ``"failed"`` and the note
        keeps the value it came with.
    """
    if isinstance(value, str):
        if value in BLUESKY_EXIT_STATUSES:
            return BLUESKY_EXIT_STATUSES[value], None
        if value in EXIT_STATUSES:
            return value, None
    return "failed", f"unknown exit_status {value!r}"


def status_filter(value: str) -> str:
    """Return a status filter in our spelling: one of :data:`STATUS_FILTERS`.

    Parameters
    ----------
    value : str
        ``"success"``, ``"aborted"``, ``"failed"``, ``"interrupted"`` or ``"open"``; event-model's
        ``"abort"`` and ``"fail"`` are accepted too.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For any other value; the message lists the accepted ones.
    """
    status = BLUESKY_EXIT_STATUSES.get(value, value)
    if status not in STATUS_FILTERS:
        raise ValueError(f"exit_status {value!r} is not one of {', '.join(STATUS_FILTERS)}")
    return status
