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
from resonance_callback.errors import DataLookupError
from resonance_callback.read import _unresolved
from resonance_callback.read._documents import descriptor_document, iter_documents
from resonance_callback.read._frames import FrameArray, FrameReader
from resonance_callback.read._joins import field_resources
from resonance_callback.read._rejected import RejectedDocument, rejected_documents
from resonance_callback.read._sources import StreamResourceRef, stream_resources
from resonance_callback.read._table import device_config, no_frames, stored_sample, stream_table
from resonance_callback.read._unresolved import stream_frames, unresolved_fields
from resonance_callback.store import find_run, run_queries

if TYPE_CHECKING:
    import numpy as np
    import pandas

    from resonance_callback.read._stream import Stream
    from resonance_callback.store import BeamtimeReader, SampleMetadata, StoredRun

__all__ = ["RejectedDocument", "Run"]


class Run:
    """One run of a beamtime opened with :func:`~resonance_callback.read.open_beamtime`.

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
        self._reader = reader
        self._frames = frames
        self.uid: str = stored.uid
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

    def __getitem__(self, stream: str) -> Stream:
        """Return one stream, ``run["primary"]``, read as databroker 2 reads it.

        Raises
        ------
        KeyError
            If the run has no such stream (:class:`DataLookupError`).
        """
        from resonance_callback.read._stream import Stream

        if not isinstance(stream, str):
            raise DataLookupError(f"run {self.uid}: a stream is named by a string, "
                                  f"not {stream!r}; its streams are {self.streams}")
        return Stream(self, stream)

    def __getattr__(self, name: str) -> Stream:
        """Return the stream ``name`` (``run.primary``), when there is one."""
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except DataLookupError:
            raise AttributeError(
                f"'Run' object has no attribute {name!r}, and run {self.uid} has no stream "
                f"of that name") from None

    @property
    def streams(self) -> list[str]:
        """Names of the run's streams, in the order they were declared."""
        return run_queries.stream_names(self._reader, self.uid)

    def descriptors(self, stream: str | None = None) -> list[dict[str, Any]]:
        """Return the descriptor documents of one stream (all streams if None), in order."""
        rows = run_queries.descriptor_rows(self._reader, self.uid, stream)
        if stream is not None and not rows:
            raise DataLookupError(
                f"run {self.uid} has no stream {stream!r}; its streams are {self.streams}")
        return [descriptor_document(self.uid, row) for row in rows]

    def image_fields(self, stream: str = "primary") -> list[str]:
        """Return the fields of ``stream`` with frames in the Zarr store."""
        return run_queries.image_fields(self._reader, self.uid, stream)

    def unresolved_frames(self, stream: str = "primary") -> dict[str, dict[int, str]]:
        """Return, per field, the frames of ``stream`` never stored: ``{seq_num: why}``."""
        return unresolved_fields(self._reader, self.uid, stream)

    def stream_resources(self, stream: str = "primary") -> dict[str, list[StreamResourceRef]]:
        """Return, per field, the stream resources (with their datums) ``stream`` was read from."""
        uids = {str(d.get("uid")) for d in self.descriptors(stream)}
        return stream_resources(self._reader, self.uid, uids)

    def stream_frames(self, field: str, stream: str, seq_nums: list[int],
                      unresolved: dict[int, str]) -> FrameArray:
        """Return a field's frames with a gap that raises where one was never stored."""
        return stream_frames(self._reader, self._frames, self.uid, stream, field,
                             self.descriptors(stream), seq_nums, unresolved)

    def field_resources(self, streamed: list[str], datum_ids: dict[str, str]
                        ) -> dict[str, dict[str, Any]]:
        """Return detector-file fields' (stream) resource documents (see ``read._joins``)."""
        return field_resources(self._reader, self.uid, streamed, datum_ids)

    def table(self, stream: str = "primary", *, timestamps: bool = False,
              fields: list[str] | None = None) -> pandas.DataFrame:
        """Return a stream's values as a DataFrame, one row per stored event.

        Parameters
        ----------
        stream : str, optional
            The stream name.
        timestamps : bool, optional
            Also add a ``ts_<field>`` column with each field's timestamp.
        fields : list of str, optional
            Only these fields (declared by the stream), in this order: only they are read.

        Returns
        -------
        pandas.DataFrame
            Columns ``seq_num``, ``time``, then one per inline field in the descriptors'
            order (a data key named ``seq_num`` or ``time`` is the column ``seq_num_`` or
            ``time_``, as TiledWriter renames it); rows ordered by ``seq_num`` (then time).
            Fields stored as frames have no column (use :meth:`images`); fields holding
            external references show the reference (datum id). Rows the writer derived
            with no event document are included.

        Raises
        ------
        KeyError
            If the run has no such stream, or ``fields`` names a field it does not
            declare (:class:`DataLookupError`).
        """
        return stream_table(self._reader, self.uid, stream, self.descriptors,
                            timestamps=timestamps, fields=fields)

    def images(self, field: str, stream: str = "primary") -> FrameArray:
        """Return the frames of one field lazily: indexing reads only the frames asked for.

        Parameters
        ----------
        field : str
            A field stored as frames (see :meth:`image_fields`).
        stream : str, optional
            The stream name.

        Returns
        -------
        FrameArray
            ``len``, ``shape``, ``dtype`` and numpy-style indexing; one frame per stored
            row of the stream that has one, in :meth:`table`'s row order. Frames as the
            writer appends them are found in time independent of the run's length.

        Raises
        ------
        KeyError
            If the stream has no frames for ``field`` (:class:`DataLookupError`).
        """
        frames = _unresolved.field_frames(self._reader, self._frames, self.uid, stream, field)
        if frames is None:
            self.descriptors(stream)  # raises if the stream is unknown
            raise no_frames(self.uid, stream, field, self.image_fields(stream))
        return frames

    def event_frame(self, event_uid: str, field: str) -> np.ndarray:
        """Return ``field``'s frame of event ``event_uid`` (one lookup); KeyError if none."""
        return _unresolved.event_frame(self._reader, self._frames, self.uid, event_uid, field)

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
