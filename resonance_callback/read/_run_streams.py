"""A run as a read-only mapping of its streams, and what a :class:`Stream` looks up in it.

:class:`RunStreams` is the base of :class:`~resonance_callback.read.Run`: stream
name -> :class:`~resonance_callback.read.Stream`, as databroker's ``BlueskyRun``
(``"baseline" in run``, ``list(run)``, ``run.keys()``, ``run.items()``,
``len(run)``), in the order the streams were declared, and the per-stream
lookups (descriptors, frame fields, resources) the stream reads through.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from resonance_callback.errors import DataLookupError
from resonance_callback.read._documents import descriptor_document
from resonance_callback.read._frames import FrameArray, FrameReader
from resonance_callback.read._joins import field_resources
from resonance_callback.read._sources import StreamResourceRef, stream_resources
from resonance_callback.read._table import no_frames, stream_table
from resonance_callback.read._unresolved import (
    event_frame,
    field_frames,
    stream_frames,
    unresolved_fields,
)
from resonance_callback.store import BeamtimeReader, column_reads, run_queries

if TYPE_CHECKING:
    import numpy as np
    import pandas

    from resonance_callback.read._stream import Stream

__all__ = ["RunStreams"]


class RunStreams(Mapping[str, "Stream"]):
    """The streams of run ``uid``: a read-only mapping of name to :class:`Stream`."""

    def __init__(self, reader: BeamtimeReader, frames: FrameReader, uid: str) -> None:
        self._reader = reader
        self._frames = frames
        self.uid: str = uid

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

    def __iter__(self) -> Iterator[str]:
        """Iterate the stream names, in the order they were declared."""
        return iter(self.streams)

    def __len__(self) -> int:
        """Return the number of streams."""
        return len(self.streams)

    def __contains__(self, stream: object) -> bool:
        """Return whether the run has a stream of this name."""
        return isinstance(stream, str) and stream in self.streams

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

    def stored_table(self, stream: str = "primary", *, timestamps: bool = False,
                     fields: list[str] | None = None) -> pandas.DataFrame:
        """Return a stream's table with every value as stored (see :meth:`Run.table`).

        A value of shape ``[1]`` stays a one-element list, the time Unix seconds.
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
            ``len``, ``shape``, ``dtype`` and numpy-style indexing; one frame
            per stored row of the stream that has one, in the order of
            :meth:`table`'s rows. Frames as the writer appends them are found in
            time independent of the run's length.

        Raises
        ------
        KeyError
            If the stream has no frames for ``field`` (:class:`DataLookupError`).
        """
        frames = field_frames(self._reader, self._frames, self.uid, stream, field)
        if frames is None:
            self.descriptors(stream)  # raises if the stream is unknown
            raise no_frames(self.uid, stream, field, self.image_fields(stream))
        return frames

    def event_frame(self, event_uid: str, field: str) -> np.ndarray:
        """Return ``field``'s frame of event ``event_uid`` (one lookup); KeyError if none."""
        return event_frame(self._reader, self._frames, self.uid, event_uid, field)

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

    def stream_extent(self, stream: str, frame_field: str | None = None
                      ) -> column_reads.StreamExtent:
        """Return how many rows ``stream`` holds (see ``store.column_reads.stream_extent``)."""
        return column_reads.stream_extent(self._reader, self.uid, stream, frame_field)

    def first_texts(self, extent: column_reads.StreamExtent, fields: list[str]
                    ) -> dict[str, str]:
        """Return each field's first text value (an ophyd field's datum id) in ``extent``."""
        return column_reads.first_texts(self._reader, extent.descriptors, fields)

    def column_rows(self, extent: column_reads.StreamExtent, fields: list[str]
                    ) -> list[tuple[Any, ...]]:
        """Return ``(time, each field's JSON)`` of the rows of ``extent``, in the table's order."""
        return column_reads.column_rows(self._reader, extent, fields)
