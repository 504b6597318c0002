"""A run's stream as a table, and its devices' configuration, read for :class:`Run`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from resonance_callback import jsoncodec
from resonance_callback.errors import DataLookupError
from resonance_callback.store import (
    BeamtimeReader,
    SampleMetadata,
    StoredRun,
    run_queries,
    stream_texts,
)

if TYPE_CHECKING:
    import pandas

__all__ = ["device_config", "no_frames", "stored_sample", "stream_table"]


def stream_table(reader: BeamtimeReader, uid: str, stream: str,
                 descriptors_of: Callable[[str], list[dict[str, Any]]], *,
                 timestamps: bool, fields: list[str] | None = None) -> pandas.DataFrame:
    """Run ``uid``'s ``stream`` as :meth:`Run.table` gives it (see there).

    Read in batches: each batch's values become numpy arrays (or, for values numpy
    cannot hold as pandas would, lists) before the next is read, so memory holds the
    columns and one batch of rows, never every row as Python objects. Rows are read
    in seq_num order from the events' key; only if two rows share a seq_num is the
    stream read again, sorted by seq_num, time and arrival. A stream of one
    descriptor (the usual case) comes as a few texts per batch
    (:func:`~resonance_callback.store.stream_texts.stream_text_batches`: seq_nums,
    exact times and JSON values concatenated by SQLite), not a tuple per row.
    """
    import pandas as pd

    with reader.snapshot():
        descriptors = descriptors_of(stream)
        declared = list(dict.fromkeys(k for d in descriptors for k in d.get("data_keys", {})))
        if fields is not None:
            unknown = [f for f in fields if f not in declared or run_queries.json_path(f) is None]
            if unknown:
                raise DataLookupError(f"stream {stream!r} of run {uid} has no field(s) "
                                      f"{unknown}; its fields are {declared}")
            fields = list(dict.fromkeys(fields))
        read = _Read(fields, timestamps)
        one = [r[0] for r in run_queries.descriptor_rows(reader, uid, stream)]
        if len(one) == 1:  # its rows in the events' key order, a few texts per batch
            if not read.texts(reader, stream_texts.stream_text_batches(
                    reader, one[0], timestamps=timestamps, fields=fields)):
                read, one = _Read(fields, timestamps), []  # a seq_num or time not a number
        if len(one) != 1:
            read.rows(run_queries.stream_row_batches(reader, uid, stream,
                                                     timestamps=timestamps, fields=fields,
                                                     by_seq=True))
        if not read.in_order():  # rows sharing a seq_num: read again, fully sorted
            read = _Read(fields, timestamps)
            read.rows(run_queries.stream_row_batches(reader, uid, stream,
                                                     timestamps=timestamps, fields=fields))
    n = read.n
    order = [k for k in fields or declared if k in read.values] + [
        k for k in read.values if k not in declared]  # undeclared keys: after, as seen
    columns: dict[str, Any] = {"seq_num": read.seq.finish(n), "time": read.time.finish(n)}
    for key in order:  # a data key named seq_num or time is shown as TiledWriter shows it
        columns[f"{key}_" if key in columns else key] = read.values[key].finish(n)
    if timestamps:
        for key in order:
            columns[f"ts_{key}"] = read.stamps[key].finish(n) if key in read.stamps else (
                [None] * n)
    frame = pd.DataFrame(columns, copy=False)
    if not n:
        frame = frame.astype({"seq_num": "int64", "time": "float64"})
    return frame


def _decode(text: str) -> Any:
    """Decode stored JSON: orjson when the text holds none of our tags and no long integer.

    orjson reads an integer beyond 64 bits as a float without a word: such text
    takes the json module's path, which keeps it exact.
    """
    if '"$' not in text and not jsoncodec.may_hold_long_integer(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # what orjson refuses (lone surrogates, depth)
            pass
    return jsoncodec.loads(text)


class _Read:
    """A stream's rows turned into columns, batch by batch.

    Without ``fields``, each row's whole ``data`` (and ``timestamps``) is decoded
    and every key becomes a column, undeclared keys in order of first appearance;
    with ``fields``, each row holds those fields' values alone, and a field no row
    holds gets no column (as a field never seen gets none without ``fields``).
    """

    def __init__(self, fields: list[str] | None, timestamps: bool) -> None:
        self.fields, self.timestamps, self.n = fields, timestamps, 0
        self.seq, self.time = _Column(), _Column()
        self.values: dict[str, _Column] = {}
        self.stamps: dict[str, _Column] = {}

    def rows(self, batches: Iterator[list[tuple[Any, ...]]]) -> None:
        for batch in batches:
            self.seq.add([r[0] for r in batch])
            self.time.add([r[1] for r in batch])
            if self.fields is None:
                _add(self.values, _decode("[" + ",".join(r[2] for r in batch) + "]"), self.n)
                if self.timestamps:
                    _add(self.stamps, _decode("[" + ",".join(r[3] for r in batch) + "]"),
                         self.n)
            else:
                k = len(self.fields)
                for j, key in enumerate(self.fields):
                    self._field(self.values, key, [r[2 + j] for r in batch])
                    if self.timestamps:
                        self._field(self.stamps, key, [r[2 + k + j] for r in batch])
            self.n += len(batch)

    def texts(self, reader: BeamtimeReader,
              batches: Iterator[stream_texts.TextBatch]) -> bool:
        """Add batches of :func:`~resonance_callback.store.stream_texts.stream_text_batches`.

        False (and stop) at a batch whose seq_nums or times are not all numbers
        (read such a stream row by row, with :meth:`rows`).
        """
        for batch in batches:
            seq, scaled = _integers(batch.seq, batch.n), _integers(batch.time, batch.n)
            if seq is None or scaled is None:
                return False
            self.seq.add_array(seq)
            if stream_texts.exact_times(scaled):
                self.time.add_array(scaled / stream_texts.TIME_SCALE)
            else:
                try:
                    self.time.add_array(np.array(stream_texts.text_batch_times(reader, batch),
                                                 dtype=np.float64))
                except (TypeError, ValueError):
                    return False
            if self.fields is None:
                _add(self.values, _decode(f"[{batch.values[0]}]"), self.n)
                if self.timestamps:
                    _add(self.stamps, _decode(f"[{batch.values[1]}]"), self.n)
            else:
                k = len(self.fields)
                for j, key in enumerate(self.fields):
                    for columns, i in ((self.values, j), (self.stamps, k + j)):
                        if i >= len(batch.values) or (
                                key not in columns and not batch.present[i]):
                            continue  # not asked for, or no row holds it yet
                        columns.setdefault(key, _Column(self.n)).add(
                            _decode(f"[{batch.values[i]}]"))
            self.n += batch.n
        return True

    def _field(self, columns: dict[str, _Column], key: str, texts: list[str | None]) -> None:
        if key not in columns and all(t is None for t in texts):
            return  # no row holds it yet
        column = columns.setdefault(key, _Column(self.n))
        column.add(_decode("[" + ",".join("null" if t is None else t for t in texts) + "]"))

    def in_order(self) -> bool:
        """Whether every row has a seq_num of its own (so seq_num alone orders them)."""
        seq = np.asarray(self.seq.finish(self.n))
        return bool(len(seq) < 2 or np.all(np.diff(seq) > 0))


def _integers(text: str, n: int) -> np.ndarray | None:
    """``n`` comma-separated integers (as SQLite writes them) as an int64 array, else None."""
    if text.encode().translate(None, b"0123456789,-"):  # not integers only (a REAL, a text)
        return None
    out = np.fromstring(text, dtype=np.int64, sep=",")
    return out if len(out) == n else None


def _add(columns: dict[str, _Column], rows: list[dict[str, Any]], before: int) -> None:
    """Add one batch of events' values to ``columns``; a key seen first here is padded."""
    n, known = len(rows), list(columns)
    if known and sum(map(len, rows)) == n * len(known):  # every row the same keys? then
        try:  # one C-level pass per column
            picked = [list(map(itemgetter(k), rows)) for k in known]
        except KeyError:
            picked = []
        if picked:
            for column, values in zip(columns.values(), picked, strict=True):
                column.add(values)
            return
    keys = set().union(*rows)
    for key in [k for r in rows for k in r if k not in columns] if keys - columns.keys() else ():
        if key not in columns:  # in order of first appearance
            columns[key] = _Column(before)
    for key, column in columns.items():
        column.add([r.get(key) for r in rows])


class _Column:
    """One column, batch by batch.

    Numpy arrays while every value is a number (or every value a bool), a list once one
    is not (pandas then infers its type from the values, as it did before).
    """

    def __init__(self, missing: int = 0) -> None:
        self._parts: list[np.ndarray] = []
        self._list: list[Any] | None = [None] * missing if missing else None

    def add(self, values: list[Any]) -> None:
        if self._list is None:
            kinds = set(map(type, values))
            if kinds <= {int, float} or kinds == {bool}:
                try:
                    part = np.array(values, dtype=np.float64 if float in kinds else None)
                except OverflowError:
                    part = None
                if part is not None and part.dtype.kind in "bif":
                    if not self._parts or (part.dtype.kind == "b") == (
                            self._parts[0].dtype.kind == "b"):
                        self._parts.append(part)
                        return
            self._list = [v for p in self._parts for v in p.tolist()]
            self._parts = []
        self._list.extend(values)

    def add_array(self, values: np.ndarray) -> None:
        if self._list is None:
            self._parts.append(values)
        else:
            self._list.extend(values.tolist())

    def finish(self, n: int) -> Any:
        if self._list is not None:
            return self._list
        if not self._parts:
            return [None] * n if n else []
        out = np.concatenate(self._parts) if len(self._parts) > 1 else self._parts[0]
        self._parts = [out]
        return out


def device_config(uid: str, stream: str, descriptors: list[dict[str, Any]],
                  device: str | None) -> list[dict[str, Any]]:
    """Run ``uid``'s configuration readings of ``stream``, as :meth:`Run.config` gives them."""
    out = []
    for desc in descriptors:
        readings = {name: dict(cfg.get("data", {}))
                    for name, cfg in (desc.get("configuration") or {}).items()}
        out.append(readings if device is None else readings.get(device, {}))
    if device is not None and not any(device in (d.get("configuration") or {})
                                      for d in descriptors):
        raise DataLookupError(f"no device {device!r} in the configuration of stream "
                              f"{stream!r} of run {uid}")
    return out


def no_frames(uid: str, stream: str, field: str, known: list[str]) -> DataLookupError:
    """The error of :meth:`Run.images` for a field without frames, naming those with frames."""
    return DataLookupError(f"stream {stream!r} of run {uid} has no frames for {field!r}; "
                           f"fields with frames: {known}")


def stored_sample(stored: StoredRun) -> SampleMetadata | None:
    """The sample of a run's row (name and metadata), if any."""
    if stored.sample_name is None:
        return None
    meta = dict(jsoncodec.loads(stored.sample_metadata) or {})
    formula, description = meta.pop("formula", None), meta.pop("description", None)
    return SampleMetadata(stored.sample_name, stored.sample_id, formula, description, meta)
