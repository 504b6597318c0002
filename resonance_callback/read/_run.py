"""``Run``: one stored run, read back as documents, tables and frames.

Frames never go into :meth:`Run.table`: :meth:`Run.images` returns them lazily, one
per stored row of the stream that has one, in the table's row order. Fields that hold
references to external files (datum ids) appear in the table as those strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from resonance_callback import jsoncodec
from resonance_callback.read._documents import iter_documents
from resonance_callback.read._frames import FrameReader
from resonance_callback.read._rejected import RejectedDocument, rejected_documents
from resonance_callback.read._run_streams import RunStreams
from resonance_callback.read._table import device_config, stored_sample
from resonance_callback.read._table_view import as_datetimes, check_time_kind, unwrap_scalars
from resonance_callback.store import (
    BeamtimeReader,
    SampleMetadata,
    StoredRun,
    find_run,
    run_queries,
)

if TYPE_CHECKING:
    import pandas

__all__ = ["RejectedDocument", "Run"]


class Run(RunStreams):
    """One run of a beamtime opened with :func:`~resonance_callback.read.open_beamtime`.

    A read-only mapping of stream name to :class:`Stream`, as databroker's runs:
    ``run["primary"]`` (or ``run.primary``), ``"baseline" in run``, ``list(run)``,
    ``run.keys()``, ``run.items()``, ``len(run)``; the streams in declared order.

    Attributes
    ----------
    uid : str
        The start document's uid.
    plan_name : str or None
        The plan that made the run.
    scan_id : int or None
        The start document's ``scan_id``.
    time_start : float
        Unix time of the start document.
    """

    def __init__(self, reader: BeamtimeReader, frames: FrameReader, stored: StoredRun) -> None:
        super().__init__(reader, frames, stored.uid)
        self.plan_name = stored.plan_name
        self.scan_id = stored.scan_id
        self.time_start = stored.time_start
        self._stored = stored

    def __repr__(self) -> str:
        return (f"<Run {self.uid[:8]} scan_id={self.scan_id} plan={self.plan_name!r} "
                f"exit_status={self.exit_status!r}>")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.uid == self.uid and other._reader is self._reader

    def __hash__(self) -> int:
        return hash(self.uid)

    def _row(self) -> StoredRun:
        """The run's row with its start document and sample (read now if it was listed without)."""
        stored = self._stored
        if stored.metadata is None:  # listed by Beamtime.runs(): read the rest once, now
            stored = self._stored = find_run(self._reader, self.uid)
        return stored

    @cached_property
    def start(self) -> dict[str, Any]:
        """The start document, as stored."""
        return jsoncodec.loads(self._row().metadata) or {}

    def _status(self) -> tuple[str | None, str | None]:
        return run_queries.run_status(self._reader, self.uid)

    @property
    def stop(self) -> dict[str, Any] | None:
        """The stop document, or None while the run is open (read afresh each time)."""
        return cast("dict[str, Any] | None", jsoncodec.loads(self._status()[1]))  # JSON object/NULL

    @property
    def exit_status(self) -> str | None:
        """``"success"``, ``"aborted"``, ``"failed"``, or None while the run is open."""
        return self._status()[0]

    @cached_property
    def sample(self) -> SampleMetadata | None:
        """The sample the run was measured on (name and metadata), if any."""
        return stored_sample(self._row())

    @property
    def metadata(self) -> dict[str, Any]:
        """The run's metadata as databroker 2 and Tiled lay it out.

        ``{"start": start document, "stop": stop document or None, "summary": {...}}``;
        the summary has ``uid``, ``scan_id``, ``plan_name``, ``sample`` (the stored
        sample's name), ``timestamp`` (start time), ``datetime`` (ISO 8601, UTC),
        ``exit_status``, ``duration`` (seconds, None while open) and ``stream_names``.
        Read afresh on each access (a live run gets its stop).
        """
        from resonance_callback.read._catalog import run_metadata

        sample = self.sample
        return run_metadata(self.start, self.stop, self.streams,
                            sample.name if sample is not None else None)

    def table(self, stream: str = "primary", *, timestamps: bool = False,
              time: str = "unix", fields: list[str] | None = None) -> pandas.DataFrame:
        """Return a stream's values as a DataFrame, one row per stored event.

        Parameters
        ----------
        stream : str, optional
            The stream name.
        timestamps : bool, optional
            Also add a ``ts_<field>`` column with each field's timestamp.
        time : {"unix", "datetime"}, optional
            ``time`` and the ``ts_`` columns as Unix seconds (floats), or as
            timezone-aware pandas datetimes in UTC.
        fields : list of str, optional
            Only these fields (declared by the stream), in this order: only they are read.

        Returns
        -------
        pandas.DataFrame
            Columns ``seq_num``, ``time``, then one per inline field in the
            descriptors' order (a data key named ``seq_num`` or ``time`` is the
            column ``seq_num_`` or ``time_``, as TiledWriter renames it); rows
            ordered by ``seq_num`` (then time). Fields
            stored as frames have no column (use :meth:`images`); fields
            holding external references show the reference (datum id). Rows
            the writer derived with no event document are included. A field
            declared a scalar of shape ``[1]`` (ophyd-async's ``det-sum``) is one
            scalar per row, as in :meth:`Stream.read` and TiledWriter.

        Raises
        ------
        KeyError
            If the run has no such stream, or ``fields`` names a field it does not
            declare (:class:`DataLookupError`).
        ValueError
            For a ``time`` that is neither (:class:`FilterError`).
        """
        check_time_kind(time, self.uid)
        table = self.stored_table(stream, timestamps=timestamps, fields=fields)
        return as_datetimes(unwrap_scalars(table, self.descriptors(stream)), time)

    def config(self, stream: str = "primary", device: str | None = None) -> list[dict[str, Any]]:
        """Return the devices' configuration readings, one entry per descriptor of ``stream``.

        Parameters
        ----------
        stream : str, optional
            The stream name.
        device : str, optional
            Only this device's readings.

        Returns
        -------
        list of dict
            Per descriptor, in order: ``{device: {field: value}}``, or ``{field: value}``
            when ``device`` is given. A stream has more than one descriptor when a
            device was reconfigured during the run.

        Raises
        ------
        KeyError
            If there is no such stream, or ``device`` is in none of its descriptors
            (:class:`DataLookupError`).
        """
        return device_config(self.uid, stream, self.descriptors(stream), device)

    def documents(self, fill: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield the run's documents as ``(name, doc)``, as they were emitted.

        Parameters
        ----------
        fill : bool, optional
            Put frames that were copied into the store from external files into the
            events (``filled[key]`` becomes the datum id, as event-model's ``Filler``
            does). With False such fields keep their reference. Frames that came inline
            in the events are arrays either way. References never copied into the store
            stay references. ophyd-async (``STREAM:``) data is carried by the
            stream_datum documents, never by the events, so ``fill`` does not change it.

        Notes
        -----
        A fly scan's frames (stream_resource and stream_datum documents, no events)
        come back as those documents only: the rows the writer made for them
        (``derived = 1``) are not emitted as events.

        Returns
        -------
        iterator of (str, dict)
            ``start``, descriptors, resources and datums, events, ``stop``, in the
            order :mod:`resonance_callback.read._order` describes. The rows are read (in
            one snapshot) when this is called; frames are read as their events are reached.
        """
        return iter_documents(self._reader, self._frames, self.uid, fill=fill)

    def rejected(self) -> list[RejectedDocument]:
        """Return the documents of this run that were rejected, in arrival order."""
        return rejected_documents(self._reader, self.uid)
