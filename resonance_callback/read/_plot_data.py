"""One run's stream read once for plotting: its table, frame fields and hints.

Also turns a column into numbers (a shape-``[1]`` field, such as an ophyd-async
detector's ``det-sum``, is its one value) and tells a field holding arrays from
one holding values, with errors that name the run, stream and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from resonance_callback.errors import DataLookupError, PlotError
from resonance_callback.read._hints import StreamHints, stream_hints

if TYPE_CHECKING:
    import pandas

    from resonance_callback.read._run import Run

__all__ = ["Source", "read_source"]


@dataclass
class Source:
    """One run's stream as plotting sees it."""

    run: Run
    stream: str
    table: pandas.DataFrame
    frame_fields: list[str]
    hints: StreamHints
    data_keys: dict[str, dict[str, Any]]

    @property
    def label(self) -> str:
        """The run as a legend names it: ``scan 3 (1a2b3c4d)``."""
        return f"scan {self.run.scan_id} ({self.run.uid[:8]})"

    def where(self, field: str | None = None) -> str:
        """The run, stream and field, for error messages."""
        at = f"stream {self.stream!r} of run {self.run.uid}"
        return at if field is None else f"field {field!r} of {at}"

    def has(self, field: str) -> bool:
        """Whether ``field`` is a column of the table."""
        return field in self.table.columns

    def missing(self, field: str) -> DataLookupError:
        """The error for a field this stream does not have, listing what it has."""
        columns = [c for c in self.table.columns if c not in ("seq_num", "time")]
        frames = self.frame_fields
        return DataLookupError(
            f"{self.where()} has no field {field!r}; columns: {columns}"
            + (f"; fields with frames (plot one alone): {frames}" if frames else ""))

    def numbers(self, field: str) -> np.ndarray:
        """The column ``field`` as floats, one per row.

        Raises
        ------
        PlotError
            If it holds arrays (other than one value each) or text.
        """
        if field == "time":
            return np.asarray(self.table["time"], dtype=float) - self.run.time_start
        column = self.table[field].to_numpy()
        try:
            return np.asarray(column, dtype=float)
        except (TypeError, ValueError):
            pass
        values = []
        for value in column:
            item = np.asarray(value)
            if item.size != 1 or item.dtype.kind not in "biuf":
                shape = list(item.shape)
                kind = "text" if item.dtype.kind in "USO" and item.size == 1 else \
                    f"arrays of shape {shape}"
                raise PlotError(f"{self.where(field)} holds {kind}, not one number per event"
                                + ("; plot it alone" if item.ndim >= 1 and kind != "text"
                                   else ""))
            values.append(float(item.reshape(-1)[0]))
        return np.asarray(values, dtype=float)

    def is_array(self, field: str) -> bool:
        """Whether ``field`` is stored as frames, or inline as arrays of more than one value."""
        if field in self.frame_fields:
            return True
        if not self.has(field) or field in ("seq_num", "time"):
            return False
        shape = self.data_keys.get(field, {}).get("shape")
        if isinstance(shape, list) and int(np.prod(shape, dtype=np.int64)) > 1:
            return True
        return len(self.table) > 0 and np.asarray(self.table[field].iloc[0]).size > 1

    def is_number(self, field: str) -> bool:
        """Whether ``field`` is a column of one number per event (BestEffortCallback's check)."""
        key = self.data_keys.get(field, {})
        return (self.has(field) and not self.is_array(field)
                and key.get("dtype") in ("number", "integer", "boolean", None))

    def frames(self, field: str) -> tuple[int, Any]:
        """``(count, read(i))`` of a field's frames: from the Zarr store or inline arrays."""
        if field in self.frame_fields:
            images = self.run.images(field, self.stream)
            return len(images), images.__getitem__
        column = self.table[field]
        return len(column), lambda i: np.asarray(column.iloc[i])


def read_source(run: Run, stream: str) -> Source:
    """Read ``stream`` of ``run`` for plotting.

    Raises
    ------
    KeyError
        If the run has no such stream (:class:`DataLookupError`).
    """
    descriptors = run.descriptors(stream)
    keys: dict[str, dict[str, Any]] = {}
    for descriptor in descriptors:
        for name, key in (descriptor.get("data_keys") or {}).items():
            if isinstance(key, dict):
                keys.setdefault(name, key)
    return Source(run=run, stream=stream, table=run.table(stream),
                  frame_fields=run.image_fields(stream),
                  hints=stream_hints(run.start, stream, descriptors), data_keys=keys)
