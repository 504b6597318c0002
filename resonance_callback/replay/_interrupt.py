"""Ctrl-C during a replay: stop between two documents, never inside a write."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["InterruptGuard"]


class InterruptGuard:
    """Turn SIGINT into a clean stop while a replay runs on the main thread.

    While :attr:`writing` is set (a document is handed to the callback, the
    beamtime is being closed) a SIGINT only sets :attr:`requested`, for the
    replay to stop after that document; at any other moment (reading the
    file, waiting on a pipe) it raises :class:`KeyboardInterrupt` at once,
    which the replay catches. Off the main thread, or when the program has
    a SIGINT handler of its own, nothing is changed.
    """

    def __init__(self) -> None:
        self.requested = False
        self.writing = True  # until the replay says it is reading
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> InterruptGuard:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if not self.writing:
            raise KeyboardInterrupt
