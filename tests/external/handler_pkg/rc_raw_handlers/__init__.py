"""A handler for raw frame files (``{stem}_{index}.raw``), in event-model's handler protocol."""

import numpy as np


class RawFrameHandler:
    """Frames saved as raw bytes; the resource gives their dtype and shape."""

    specs = {"RC_RAW"}

    def __init__(self, path, dtype, shape):
        self._stem = path
        self._dtype = np.dtype(dtype)
        self._shape = tuple(shape)

    def __call__(self, index):
        return np.fromfile(f"{self._stem}_{index}.raw", dtype=self._dtype).reshape(self._shape)
