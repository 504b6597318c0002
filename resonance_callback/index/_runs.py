"""``IndexWriter``'s runs: index a run's start and end, or a whole beamtime's runs at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.errors import IndexEntryError, IndexLookupError
from resonance_callback.index import _store as store
from resonance_callback.index._connection import _IndexConnection
from resonance_callback.index._dialect import IndexConn
from resonance_callback.index._model import RunSummary
from resonance_callback.store import EXIT_STATUSES


class _Runs(_IndexConnection):
    """The run methods of :class:`~resonance_callback.index.IndexWriter`."""

    def index_run(
        self,
        uid: str,
        researcher_id: int,
        beamtime_id: int,
        plan_name: str,
        *,
        sample_name: str | None = None,
        time_start: float | None = None,
        tags: list[str] | None = None,
        scan_id: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert or update a run summary row in the master index.

        Parameters
        ----------
        uid : str
            Hex UUID of the run, matching the per-beamtime ``runs.uid``.
        researcher_id : int
            Foreign key into the ``researchers`` table; must own the beamtime.
        beamtime_id : int
            Foreign key into the ``beamtimes`` table.
        plan_name : str
            Name of the scan plan.
        sample_name : str or None
            Sample name denormalized from the per-beamtime database.
        time_start : float or None
            Unix timestamp for the start of the run.
        tags : list[str] or None
            Arbitrary string tags for filtering; replace the run's tags.
        scan_id : int or None
            The start document's ``scan_id``.
        metadata : Mapping or None
            The start document (or any metadata to search with ``where``).

        Raises
        ------
        IndexLookupError
            If the beamtime is not registered.
        IndexEntryError
            If the beamtime belongs to another researcher.

        Notes
        -----
        Indexing a run again updates it. The run moves to ``beamtime_id``
        and takes ``plan_name``; a keyword left at None keeps the stored value.
        The end of the run is recorded by :meth:`finish_run`.
        """

        def work(conn: IndexConn) -> None:
            self._check_owner(conn, researcher_id, beamtime_id)
            store.upsert_run_start(
                conn, uid, beamtime_id, plan_name, sample_name=sample_name, scan_id=scan_id,
                time_start=time_start, tags=tags,
                metadata=None if metadata is None else jsoncodec.dumps(metadata),
            )

        self._write(work)

    def finish_run(
        self,
        uid: str,
        *,
        time_stop: float,
        exit_status: str,
        num_events: Mapping[str, int],
    ) -> None:
        """Record the end of an indexed run.

        Parameters
        ----------
        uid : str
            Hex UUID of the run.
        time_stop : float
            Unix timestamp of the stop document.
        exit_status : str
            "success", "aborted" or "failed".
        num_events : dict[str, int]
            Number of events stored per stream name.

        Raises
        ------
        IndexEntryError
            If ``exit_status`` is not one of the three values.
        IndexLookupError
            If the run is not in the index (its start was never indexed);
            ``reindex`` brings it in from the beamtime database.
        """
        self._check_exit_status(uid, exit_status)

        def work(conn: IndexConn) -> None:
            self._update_stop(conn, uid, time_stop, exit_status, num_events)

        self._write(work)

    def record_run(self, beamtime_id: int, summary: RunSummary) -> None:
        """Write a whole run summary (start and, if stopped, end) in one transaction.

        Parameters
        ----------
        beamtime_id : int
            The beamtime the run is stored in.
        summary : RunSummary
            The run. An open summary (no ``time_stop``) leaves any recorded
            end in place, so a stale copy never reopens a finished run.

        Raises
        ------
        IndexLookupError
            If the beamtime is not registered.
        IndexEntryError
            If the summary's exit status is not one of the three values.
        """
        self.sync_beamtime(beamtime_id, [summary], remove_missing=False)

    def sync_beamtime(
        self, beamtime_id: int, summaries: list[RunSummary], *, remove_missing: bool = True
    ) -> tuple[int, int]:
        """Make the index's runs of one beamtime match ``summaries``, in one transaction.

        Parameters
        ----------
        beamtime_id : int
            The beamtime the runs are stored in.
        summaries : list of RunSummary
            Every run of that beamtime (as read from its database).
        remove_missing : bool, optional
            Also delete the index rows of this beamtime's runs that are not
            in ``summaries``.

        Returns
        -------
        tuple of int
            Runs written, runs removed.

        Raises
        ------
        IndexLookupError
            If the beamtime is not registered.
        IndexEntryError
            If a summary's exit status is not one of the three values.
        """
        for summary in summaries:
            if summary.time_stop is not None:
                self._check_exit_status(summary.uid, summary.exit_status)

        def work(conn: IndexConn) -> tuple[int, int]:
            self._check_beamtime(conn, beamtime_id)
            for s in summaries:
                store.upsert_run_start(
                    conn, s.uid, beamtime_id, s.plan_name, sample_name=s.sample_name,
                    scan_id=s.scan_id, time_start=s.time_start, tags=s.tags,
                    metadata=jsoncodec.dumps(s.metadata),
                )
                if s.time_stop is not None:
                    self._update_stop(conn, s.uid, s.time_stop, s.exit_status, s.num_events)
            removed = 0
            if remove_missing:
                removed = store.delete_runs_not_in(conn, beamtime_id, [s.uid for s in summaries])
            return len(summaries), removed

        return self._write(work)

    def _check_owner(self, conn: IndexConn, researcher_id: int, beamtime_id: int) -> None:
        owner = self._check_beamtime(conn, beamtime_id)
        if owner != researcher_id:
            raise IndexEntryError(
                f"beamtime {beamtime_id} belongs to researcher {owner}, not {researcher_id} "
                f"(index {self._path})"
            )

    def _check_exit_status(self, uid: str, exit_status: str | None) -> None:
        if exit_status not in EXIT_STATUSES:
            raise IndexEntryError(
                f"run {uid}: exit status {exit_status!r} is not one of {', '.join(EXIT_STATUSES)}"
            )

    def _update_stop(
        self,
        conn: IndexConn,
        uid: str,
        time_stop: float,
        exit_status: str | None,
        num_events: Mapping[str, int],
    ) -> None:
        if not store.update_run_stop(conn, uid, time_stop, exit_status, num_events):
            raise IndexLookupError(
                f"run {uid} is not in index {self._path}; index its start first, or run "
                f"`resonance-callback reindex {self._path}`"
            )
