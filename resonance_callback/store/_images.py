"""Frames of stored events: appended to their field's Zarr array, one ``image_refs`` row each.

:class:`ImageRefs` is used by :class:`~resonance_callback.store._events.EventTable`
(an event's own frames, in its unit of work) and by the writer's ``write_image``
(a frame that comes after its event, such as one read from a detector file).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from resonance_callback.errors import DocumentError
from resonance_callback.store._batch import Batch
from resonance_callback.store._event_columns import StreamState, array_key, finite

__all__ = ["ImageRefs"]


class ImageRefs:
    """Append frames and record where they went; find the stream of a stored event.

    Parameters
    ----------
    batch : Batch
        The connection, its batch transaction and its frame store.
    """

    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    def frame(self, event_uid: str, state: StreamState, key: str, frame: Any,
              timestamp: float | None, stream_uid: str, seq_num: int | None) -> None:
        """Append a frame to its field's array and insert its ``image_refs`` row.

        ``stream_uid`` and ``seq_num`` are the event's (schema 8: the reader finds a
        frame by them); a ``seq_num`` of None is looked up.
        """
        frame = np.asarray(frame)
        path = state.arrays.get(key) or self._choose_array(state, key, frame)
        if seq_num is None:
            found = self.batch.execute("SELECT seq_num FROM events WHERE stream_uid = ? "
                                       "AND uid = ? LIMIT 1", (stream_uid, event_uid)).fetchone()
            seq_num = None if found is None else int(found[0])
        index, codec = self.batch.frames.append(path, frame)
        self.batch.execute(
            "INSERT INTO image_refs (event_uid, field_name, zarr_path, frame_index, "
            "compression_codec, timestamp, stream_uid, seq_num) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (event_uid, key, path, index, codec, finite(timestamp), stream_uid, seq_num))

    def _choose_array(self, state: StreamState, key: str, frame: np.ndarray) -> str:
        """Pick the field's array: the stream's, or a new one if a descriptor changed shape."""
        frames = self.batch.frames
        base = "/".join(("runs", array_key(state.run_uid), array_key(state.name),
                         array_key(key)))
        path, n = base, 1
        while True:
            found = frames.frame_layout(path)
            if found is None or found == (frame.shape, frame.dtype):
                break
            n += 1
            path = f"{base}~{n}"
        state.arrays[key] = path
        return path

    def stream_of(self, event_uid: str, stream_uid: str | None, seq_num: int | None, *,
                  last: tuple[str, str], open_streams: Iterable[str]) -> str:
        """The stream of a stored event: found by its key when the caller knows it.

        Events are keyed by ``(stream_uid, seq_num, uid)`` (schema 4): with the
        stream and seq_num given, one index lookup; the event written last
        (``last``: its uid and stream), none; otherwise the open streams' part
        of the key is searched for the uid.

        Raises
        ------
        ValueError
            If no open stream holds the event (:class:`DocumentError`).
        """
        batch = self.batch
        if stream_uid is not None and seq_num is not None:
            found = batch.execute(
                "SELECT stream_uid FROM events WHERE stream_uid = ? AND seq_num = ? AND uid = ?",
                (stream_uid, seq_num, event_uid)).fetchone()
        elif last[0] == event_uid:
            return last[1]
        else:
            streams = list(open_streams)
            found = batch.execute(
                f"SELECT stream_uid FROM events WHERE stream_uid IN "
                f"({', '.join('?' * len(streams))}) AND uid = ? LIMIT 1",
                (*streams, event_uid)).fetchone()
        if found is None:
            raise DocumentError(f"cannot write image: no event {event_uid} in an open stream "
                                f"of {batch.db_path}")
        return str(found[0])
