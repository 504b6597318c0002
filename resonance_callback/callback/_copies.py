"""Private copies of frames, made on the RunEngine's thread into buffers used again once written.

A frame in an event may be a device's own buffer, filled again for the next
event, so the callback stores a copy made before it returns. Copying into fresh
memory costs mostly the kernel's page faults (a 512x512 uint16 frame: ~30 us
into memory used before, several hundred on a busy machine into fresh memory),
so a copy goes into the buffer of an earlier frame of the same shape and dtype
once nothing holds that buffer any more. CPython's reference count says so
exactly: the frame store, an event row, a view or a buffer export of the
array (a compressor reading it) each hold a reference, and only this thread
hands buffers out, so a buffer whose only reference is ours is free for good.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["KEEP_BYTES", "FrameCopies", "frozen"]

#: Bytes of buffers kept for reuse, all shapes together.
KEEP_BYTES = 64 * 1024**2

#: Buffers of one shape and dtype kept for reuse at most.
KEEP_BUFFERS = 64

#: Frames up to this size are copied holding the GIL (a plain ``memcpy``): numpy lets
#: the GIL go while it copies, and taking it back from the writer's threads cost the
#: RunEngine's thread more than the copy of a 512x512 frame itself. Larger frames
#: let the other threads run meanwhile.
HOLD_GIL_BYTES = 4 * 1024**2


def _references_when_free() -> int:
    """``sys.getrefcount(buffers[i])`` of a buffer only its list holds."""
    held = [np.empty(1)]
    return sys.getrefcount(held[0])


_FREE = _references_when_free()


def frozen(value: Any) -> np.ndarray:
    """Return a private, read-only copy of a frame.

    Made on the caller's thread, so the device may reuse its buffer at once;
    read-only and owning its data, so the frame store writes it later without
    copying it again.
    """
    frame = np.array(value, copy=True)
    frame.flags.writeable = False
    return frame


class FrameCopies:
    """Read-only copies of frames, in buffers of earlier frames once nothing holds them.

    Used from one thread only (the callback's caller).

    Parameters
    ----------
    keep_bytes : int, optional
        Bytes of buffers kept for reuse, all shapes together; frames beyond
        get fresh memory, as :func:`frozen` gives.
    """

    def __init__(self, keep_bytes: int = KEEP_BYTES) -> None:
        self._keep_bytes = keep_bytes
        self._kept_bytes = 0
        self._buffers: dict[tuple[tuple[int, ...], np.dtype], list[np.ndarray]] = {}

    def copy(self, value: Any) -> np.ndarray:
        """Return a read-only copy of ``value`` that owns its data (C order).

        Parameters
        ----------
        value : array-like
            A frame; anything but a plain numeric ``numpy.ndarray`` is copied
            by :func:`frozen`.
        """
        if type(value) is not np.ndarray or value.dtype.hasobject or not value.nbytes:
            return frozen(value)
        key = (value.shape, value.dtype)
        buffers = self._buffers.get(key)
        if buffers is None:
            buffers = self._buffers[key] = []
        for i in range(len(buffers)):  # oldest first: the likeliest to be written
            if sys.getrefcount(buffers[i]) == _FREE:
                frame = buffers.pop(i)
                buffers.append(frame)
                frame.flags.writeable = True
                break
        else:
            frame = np.empty(value.shape, value.dtype)
            if (len(buffers) < KEEP_BUFFERS
                    and self._kept_bytes + frame.nbytes <= self._keep_bytes):
                buffers.append(frame)
                self._kept_bytes += frame.nbytes
        if value.flags.c_contiguous and frame.nbytes <= HOLD_GIL_BYTES:
            frame.data.cast("B")[:] = value.data.cast("B")
        else:
            np.copyto(frame, value, casting="no")
        frame.flags.writeable = False
        return frame

    def clear(self) -> None:
        """Forget every buffer kept (those still in use are freed by their holders)."""
        self._buffers.clear()
        self._kept_bytes = 0
