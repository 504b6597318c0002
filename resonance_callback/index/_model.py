"""Plain records the master index stores and returns: run summaries and beamtime entries.

A :class:`RunSummary` is everything the index keeps about one run. It is made
in exactly two ways, and both must agree so that live indexing and
``reindex`` give the same rows: :meth:`RunSummary.from_documents` (live, from
the start and stop documents) and the beamtime-database reader in
:func:`~resonance_callback.index.read_beamtime_runs` (from the ``runs`` row, whose
``metadata`` is the start document).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from event_model.documents import RunStart, RunStop

from resonance_callback.store import run_row, start_scan_id, stop_row

__all__ = [
    "BeamtimeEntry",
    "RunSummary",
    "tags_from_start",
]

def tags_from_start(start_doc: Mapping[str, object]) -> list[str]:
    """Return a run's tags: the start document's ``tags`` key.

    Parameters
    ----------
    start_doc : Mapping
        The run's start document (or the stored copy of it).

    Returns
    -------
    list of str
        ``tags`` as a sorted list without duplicates: a list of strings is
        taken as is, a single string is one tag, anything else means no tags.
    """
    tags = start_doc.get("tags")
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list | tuple):
        return []
    return sorted({str(tag) for tag in tags if isinstance(tag, str | int | float)})


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """One run as the master index records it.

    Parameters
    ----------
    uid : str
        The start document's uid.
    plan_name : str or None
        The start document's ``plan_name``.
    sample_name : str or None
        Name of the sample the run measured.
    scan_id : int or None
        The start document's ``scan_id``.
    time_start : float or None
        Unix time of the start document.
    time_stop : float or None
        Unix time of the stop document; None while the run is open.
    exit_status : str or None
        "success", "aborted" or "failed" (the stop document's "abort" and
        "fail" are renamed); None while the run is open.
    num_events : dict[str, int]
        Events per stream name; empty while the run is open.
    metadata : dict[str, Any]
        The whole start document, searchable with ``where``.
    tags : tuple of str
        The run's tags (see :func:`tags_from_start`).
    """

    uid: str
    plan_name: str | None
    sample_name: str | None
    scan_id: int | None
    time_start: float | None
    time_stop: float | None = None
    exit_status: str | None = None
    num_events: dict[str, int] = dataclasses.field(default_factory=dict)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    tags: tuple[str, ...] = ()

    @classmethod
    def from_documents(
        cls,
        start_doc: RunStart,
        sample_name: str | None,
        stop_doc: RunStop | None = None,
        num_events: Mapping[str, int] | None = None,
    ) -> RunSummary:
        """Build the summary of a run from its documents.

        The columns are those the beamtime's rows hold, translated by the
        store's one translation of documents (``run_row``, ``stop_row``,
        ``start_scan_id``), so the live index and a ``reindex`` agree.

        Parameters
        ----------
        start_doc : RunStart
            The run's start document.
        sample_name : str or None
            Name of the sample the run measured.
        stop_doc : RunStop or None, optional
            The run's stop document, once it has arrived.
        num_events : Mapping[str, int] or None, optional
            Events stored per stream; defaults to the stop document's
            ``num_events``.

        Returns
        -------
        RunSummary
            The summary; open (no stop time) when ``stop_doc`` is None.
        """
        run = run_row(start_doc, None)
        summary = cls(
            uid=str(run.uid),
            plan_name=run.plan_name,
            sample_name=sample_name,
            scan_id=start_scan_id(start_doc),
            time_start=run.time,
            metadata=dict(start_doc),
            tags=tuple(tags_from_start(start_doc)),
        )
        if stop_doc is None:
            return summary
        if num_events is None:
            num_events = stop_doc.get("num_events") or {}
        stop = stop_row(stop_doc, summary.uid)
        return dataclasses.replace(
            summary,
            time_stop=stop.time,
            exit_status=stop.exit_status,
            num_events={str(k): int(v) for k, v in num_events.items()},
        )


@dataclasses.dataclass(frozen=True)
class BeamtimeEntry:
    """A beamtime registered in the master index.

    Parameters
    ----------
    id : int
        Primary key of the beamtime row.
    label : str
        Human-readable label, e.g. "2026-03-05".
    researcher : str
        Name of the researcher who owns it.
    root_path : str
        The researcher's root, absolute.
    relative_path : str
        The beamtime database, relative to ``root_path`` (POSIX separators).
    """

    id: int
    label: str
    researcher: str
    root_path: str
    relative_path: str

    @property
    def db_path(self) -> Path:
        """Path: the absolute beamtime database path, the root joined with the relative path."""
        return Path(self.root_path) / self.relative_path
