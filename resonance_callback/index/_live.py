"""Index runs as they happen, without ever putting the beamtime write at risk.

The callback calls :class:`RunIndexer` after it has written a run's start
(and stop) to the beamtime database. The indexer never raises: an index
that is locked for too long, unreachable or broken costs one warning line in
the log and nothing else. The run is safe in its beamtime database, and
``resonance-callback reindex INDEX`` (:func:`~resonance_callback.index.reindex`)
brings the index up to date later (``resonance-callback index add-beamtime``,
which the warning spells out, also registers the beamtime in case the index
was unreachable for the whole session).

At the stop the indexer writes the whole summary again (start and end, in one
transaction), so a start that was missed, or removed by a ``reindex`` that ran
while the run was still uncommitted in its beamtime database, is repaired as
soon as the run ends.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path

from event_model.documents import RunStart, RunStop

from resonance_callback.index._model import RunSummary
from resonance_callback.index._writer import IndexWriter
from resonance_callback.store import BeamtimeReader, event_counts, exit_status_from_stop

__all__ = ["RunIndexer"]

logger = logging.getLogger(__name__)


class RunIndexer:
    """Record each run of one beamtime in the master index, as it starts and stops.

    Parameters
    ----------
    index_path : str or PathLike
        The master index database (created if missing), or its
        ``postgresql://`` URL.
    researcher : str
        Name of the researcher the beamtime belongs to.
    root_path : str or PathLike
        The researcher's root; ``beamtime_db_path`` must lie under it.
    beamtime_label : str
        Label of the beamtime, e.g. "2026-03-05".
    beamtime_db_path : str or PathLike
        The beamtime database the runs are written to.
    busy_timeout : float, optional
        Seconds one attempt waits for another process's lock on the index.
    attempts : int, optional
        Attempts per update; with ``busy_timeout`` this bounds how long a
        locked index can hold up the caller.
    email, orcid, affiliation : str or None, optional
        The researcher's details, for :meth:`IndexWriter.register_researcher`.

    Notes
    -----
    Call :meth:`run_started` once the start is written to the beamtime
    database and :meth:`run_stopped` once the stop is, so the index never
    lists a run its database does not hold. The researcher and beamtime are
    registered at the first run. Per-run state (the start document, until the
    stop) is dropped at the stop.
    """

    def __init__(
        self,
        index_path: str | os.PathLike[str],
        researcher: str,
        root_path: str | os.PathLike[str],
        beamtime_label: str,
        beamtime_db_path: str | os.PathLike[str],
        *,
        busy_timeout: float = 1.0,
        attempts: int = 3,
        email: str | None = None,
        orcid: str | None = None,
        affiliation: str | None = None,
    ) -> None:
        self._writer = IndexWriter(index_path, busy_timeout=busy_timeout, attempts=attempts)
        details = {"email": email, "orcid": orcid, "affiliation": affiliation}
        self._researcher = (researcher, root_path, details)
        self._beamtime = (beamtime_label, beamtime_db_path)
        self._beamtime_id: int | None = None
        self._open: dict[str, tuple[RunStart, str | None]] = {}

    def __enter__(self) -> RunIndexer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection to the index (it reopens at the next run)."""
        self._writer.close()

    def beamtime_moved(self, beamtime_db_path: str | os.PathLike[str]) -> None:
        """Index the runs from now on as runs of another beamtime database.

        The callback calls this when it stores its runs in a new beamtime beside
        its own after a storage failure (``{stem}.recovered-{time}.db``): that file
        is registered as a beamtime of its own, labelled ``"{label} (recovered)"``,
        at the next run, so the index names the database that holds each run.

        Parameters
        ----------
        beamtime_db_path : str or PathLike
            The beamtime database later runs are written to (under the
            researcher's root).
        """
        label, db_path = self._beamtime
        if Path(beamtime_db_path).resolve() == Path(db_path).resolve():
            return
        if not label.endswith(" (recovered)"):
            label = f"{label} (recovered)"
        self._beamtime = (label, beamtime_db_path)
        self._beamtime_id = None

    def run_started(self, start_doc: RunStart, sample_name: str | None = None) -> bool:
        """Index a run that has just started; never raises.

        Parameters
        ----------
        start_doc : RunStart
            The run's start document (as the callback received it: a malformed
            one is logged, never raised).
        sample_name : str or None, optional
            Name of the sample the run measures.

        Returns
        -------
        bool
            True if the index was updated; False if it was not (one warning
            was logged, and ``reindex`` will repair it).
        """
        uid = start_doc.get("uid") if isinstance(start_doc, Mapping) else None
        if isinstance(uid, str):
            self._open[uid] = (start_doc, sample_name)

        def work() -> None:
            summary = RunSummary.from_documents(start_doc, sample_name)
            self._writer.record_run(self._registered_beamtime(), summary)

        return self._guarded("start", uid, work)

    def run_stopped(
        self, stop_doc: RunStop, num_events: Mapping[str, int] | None = None
    ) -> bool:
        """Record the end of a run; never raises.

        Parameters
        ----------
        stop_doc : RunStop
            The run's stop document (as the callback received it).
        num_events : Mapping[str, int] or None, optional
            Events stored per stream. By default they are counted in the
            beamtime database (the store's count of the events of a run, as
            ``reindex`` and the ``runs`` command count them: fly-scan rows
            the writer derived included), which must hold the committed stop
            by now; the stop document's ``num_events`` only if the beamtime
            cannot be read.

        Returns
        -------
        bool
            True if the index was updated; False if it was not (one warning
            was logged, and ``reindex`` will repair it).
        """
        uid = stop_doc.get("run_start") if isinstance(stop_doc, Mapping) else None
        start = self._open.pop(uid, None) if isinstance(uid, str) else None

        def work() -> None:
            counts = num_events if num_events is not None else self._stored_events(uid, stop_doc)
            if start is None:  # the start came before this indexer existed
                if not isinstance(uid, str):
                    raise ValueError(f"stop document names no run_start: {stop_doc!r}")
                self._writer.finish_run(
                    uid, time_stop=stop_doc["time"],
                    exit_status=exit_status_from_stop(stop_doc["exit_status"])[0],
                    num_events=counts,
                )
                return
            summary = RunSummary.from_documents(start[0], start[1], stop_doc, counts)
            self._writer.record_run(self._registered_beamtime(), summary)

        return self._guarded("stop", uid, work)

    def _stored_events(self, uid: object, stop_doc: RunStop) -> Mapping[str, int]:
        """The run's events as the beamtime database counts them (else the stop document's)."""
        try:
            with BeamtimeReader(self._beamtime[1]) as reader:
                return event_counts(reader, [str(uid)]).get(str(uid), {})
        except Exception as exc:  # the index must never break a scan
            logger.debug("run %s: events not counted in %s (%s); using the stop document's",
                         uid, self._beamtime[1], exc)
            return stop_doc.get("num_events") or {}

    def _registered_beamtime(self) -> int:
        if self._beamtime_id is None:
            name, root, details = self._researcher
            researcher_id = self._writer.register_researcher(name, root, **details)
            label, db_path = self._beamtime
            self._beamtime_id = self._writer.register_beamtime(researcher_id, label, db_path)
        return self._beamtime_id

    def _guarded(self, event: str, uid: object, work: Callable[[], None]) -> bool:
        try:
            work()
        except Exception as exc:  # the index must never break a scan
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            name, root, _ = self._researcher
            logger.warning(
                "run %s: %s not recorded in index %s (%s); repair with "
                "`resonance-callback index add-beamtime %s %s --researcher %s --root %s`",
                uid, event, self._writer.path, reason, shlex.quote(str(self._writer.path)),
                shlex.quote(str(self._beamtime[1])), shlex.quote(name), shlex.quote(str(root)),
            )
            self._writer.close()
            self._beamtime_id = None
            return False
        return True
