"""``table()`` read in batches into columns; ``table(fields=[...])`` reads only those fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from resonance_callback import DataLookupError, RunWriter, open_beamtime

T0 = 1_700_000_000.0
KEYS = {k: {"dtype": "number", "shape": [], "source": "sim"} for k in ("det", "motor", "other")}


def write_scalars(db: Path, rows: list[tuple[int, float, dict[str, Any]]],
                  keys: dict[str, Any] = KEYS) -> None:
    """One run ``r1`` with one event per ``(seq_num, time, data)``."""
    with RunWriter(db, None) as writer:
        writer.open_run("count", uid="r1", time=T0)
        writer.open_stream("primary", keys, uid="d1", time=T0)
        for i, (seq, time, data) in enumerate(rows):
            writer.write_event(data, {k: time + 0.5 for k in data}, uid=f"e{i}", time=time,
                               seq_num=seq)
        writer.close_run()


def test_a_column_subset_reads_only_those_fields(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    write_scalars(db, [(i, T0 + i, {"det": i * 1.5, "motor": -i, "other": "x"})
                       for i in range(1, 6)])
    with open_beamtime(db) as bt:
        run = bt["r1"]
        issued: list[str] = []
        bt._reader._conn.set_trace_callback(issued.append)  # type: ignore[attr-defined]
        subset = run.table(fields=["det"], timestamps=True)
        bt._reader._conn.set_trace_callback(None)  # type: ignore[attr-defined]
        full = run.table(timestamps=True)
    assert list(subset.columns) == ["seq_num", "time", "det", "ts_det"]
    pd.testing.assert_frame_equal(subset, full[list(subset.columns)])
    reads = [s for s in issued if "FROM events" in s]
    assert reads, issued
    for statement in reads:
        assert "motor" not in statement and "other" not in statement, statement
        rest = statement.replace("e.data -> '$.\"det\"'", "").replace(
            "e.timestamps -> '$.\"det\"'", "")
        assert "e.data" not in rest and "e.timestamps" not in rest, statement


def test_a_field_the_stream_does_not_declare_is_refused_naming_it(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    write_scalars(db, [(1, T0, {"det": 1.0})])
    with open_beamtime(db) as bt, pytest.raises(DataLookupError, match="'nope'"):
        bt["r1"].table(fields=["det", "nope"])


def test_rows_sharing_a_seq_num_are_ordered_by_time(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    write_scalars(db, [(1, T0 + 1, {"det": 1.0}), (2, T0 + 3, {"det": 3.0}),
                       (2, T0 + 2, {"det": 2.0}), (3, T0 + 4, {"det": 4.0})])
    with open_beamtime(db) as bt:
        for table in (bt["r1"].table(), bt["r1"].table(fields=["det"])):
            assert table["seq_num"].tolist() == [1, 2, 2, 3]
            assert table["det"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_columns_read_in_batches_have_the_types_pandas_gives_their_values(
        tmp_path: Path) -> None:
    n = 20_000  # more than one batch: a column changes kind in the second
    rows = []
    for i in range(n):
        late = i >= 18_000
        rows.append((i + 1, T0 + i, {"det": float(i) if late else i,  # ints, then floats
                                     "motor": "text" if i == n - 1 else i,  # one string
                                     "other": None if i == 5 else True}))
    write_scalars(db := tmp_path / "bt.db", rows)
    expected = pd.DataFrame([r[2] for r in rows])
    with open_beamtime(db) as bt:
        table = bt["r1"].table()
        subset = bt["r1"].table(fields=["other", "motor"])
    assert table["det"].dtype == np.float64
    for column in ("det", "motor", "other"):
        assert table[column].dtype == expected[column].dtype, column
        assert table[column].tolist() == expected[column].tolist(), column
    pd.testing.assert_frame_equal(subset, table[["seq_num", "time", "other", "motor"]])
