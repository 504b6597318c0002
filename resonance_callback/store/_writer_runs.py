"""The runs and streams a writer has open, and which of them is current.

The spec's calls (``open_stream``, ``write_event``, ...) act on the current run
and stream when they are given none; rows name theirs. Either way a run or
stream must be open in this writer to take rows, and must not be one the
conflict policy refused (:mod:`~resonance_callback.store._conflicts`): then
:class:`RefusedError`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from resonance_callback.errors import DocumentError, WriterStateError
from resonance_callback.store._event_columns import StreamState

__all__ = ["RefusedError", "WriterRuns"]


class RefusedError(DocumentError, WriterStateError):
    """A document of a run or stream refused earlier: rejected, and "not open" to batch writers.

    A :class:`DocumentError`, so the document is rejected with the reason; also a
    :class:`WriterStateError`, which is what a writer sees for a stream that is
    not open (a batched event write leaves such events to ``write_event``).
    """


class WriterRuns:
    """Open runs (with their sample ids) and streams (with their state), and the current ones.

    Parameters
    ----------
    db_path : Path
        The database, for messages.
    refusal : callable
        ``refusal(uid)``: why the documents of a run or stream are refused, or None.
    """

    def __init__(self, db_path: Path, refusal: Callable[[str], str | None]) -> None:
        self.db_path = db_path
        self.refusal = refusal
        self.runs: dict[str, int] = {}  # run uid -> sample id
        self.streams: dict[str, StreamState] = {}
        self.run_uid = ""  # the current run and stream, for the spec's calls
        self.stream_uid = ""

    @property
    def seq_num(self) -> int:
        """The current stream's last seq_num (0 when no stream is current)."""
        state = self.streams.get(self.stream_uid)
        return 0 if state is None else state.seq_num

    def _refuse(self, what: str, kind: str, uid: str | None) -> None:
        why = None if uid is None else self.refusal(uid)
        if why is not None:
            raise RefusedError(f"cannot {what}: {kind} {uid} is refused: {why}")

    def require_run(self, what: str, run_uid: str | None = None) -> str:
        """The open run ``run_uid`` (or the current one); raise if there is none."""
        self._refuse(what, "run", run_uid)
        uid = run_uid or self.run_uid
        if not uid:
            raise WriterStateError(f"cannot {what}: no run is open in {self.db_path}")
        if uid not in self.runs:
            raise WriterStateError(f"cannot {what}: run {uid} is not open in {self.db_path}")
        return uid

    def require_stream(self, what: str, stream_uid: str | None = None
                       ) -> tuple[str, StreamState]:
        """The open stream ``stream_uid`` (or the current one) and its state; raise if none."""
        self._refuse(what, "stream", stream_uid)
        self.require_run(what)
        uid = stream_uid or self.stream_uid
        if not uid:
            raise WriterStateError(f"cannot {what}: no stream is open in {self.db_path}")
        state = self.streams.get(uid)
        if state is None:
            raise WriterStateError(f"cannot {what}: stream {uid} is not open in {self.db_path}")
        return uid, state

    def stream_state(self, stream_uid: str) -> StreamState:
        """The state of an open stream, to write an event to it; raise if it is not open."""
        return self.require_stream("write an event", stream_uid)[1]

    def opened_run(self, uid: str, sample_id: int) -> None:
        """``uid`` is open and current."""
        self.runs[uid] = sample_id
        self.run_uid = uid
        self.stream_uid = ""

    def opened_stream(self, uid: str, run_uid: str, name: str) -> None:
        """``uid`` is open and current; a second descriptor of a name continues its seq_num."""
        seq = max((s.seq_num for s in self.streams.values()
                   if s.run_uid == run_uid and s.name == name), default=0)
        self.streams[uid] = StreamState(run_uid, name, seq_num=seq)
        self.stream_uid = uid

    def closed_run(self, uid: str) -> None:
        """Forget ``uid`` and its streams; the run opened before it (if any) is current."""
        del self.runs[uid]
        for stream_uid in [s for s, st in self.streams.items() if st.run_uid == uid]:
            del self.streams[stream_uid]
        if self.run_uid == uid:
            self.run_uid = next(reversed(self.runs), "")
            self.stream_uid = ""

    def clear(self) -> None:
        """Forget every run and stream (the writer closed)."""
        self.runs.clear()
        self.streams.clear()
        self.run_uid = self.stream_uid = ""
