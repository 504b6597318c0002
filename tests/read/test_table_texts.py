"""``table()`` of a one-descriptor stream, read as a few texts per batch, gives what was stored.

SQLite concatenates each batch's seq_nums, times and JSON values (``group_concat``); the
times travel as exact integers, and the batches are cut by seq_num. What would break
on a naive version: times through SQLite's 15-digit text, a row sharing the seq_num of
a batch's last row, columns taken per batch from the first row's keys.
"""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from resonance_callback import RunWriter, open_beamtime

T0 = 1_700_000_000.0
BATCH = 16_384  # the rows of one batch


def write_run(db: Path, rows: list[tuple[int, float, dict[str, Any]]],
              keys: list[str]) -> None:
    """One run ``r1`` whose ``primary`` stream has one event per ``(seq_num, time, data)``."""
    declared = {k: {"dtype": "number", "shape": [], "source": "sim"} for k in keys}
    with RunWriter(db, None) as writer:
        writer.open_run("count", uid="r1", time=T0)
        writer.open_stream("primary", declared, uid="d1", time=T0)
        for i, (seq, time, data) in enumerate(rows):
            writer.write_event(data, {k: time + 0.25 for k in data}, uid=f"e{i:06d}",
                               time=time, seq_num=seq)
        writer.close_run()


def bits(values: Any) -> list[int]:
    return np.asarray(values, dtype=np.float64).view(np.int64).tolist()


def test_times_come_back_bit_for_bit_in_and_out_of_the_integer_range(tmp_path: Path) -> None:
    rng = random.Random(25)
    times = [rng.uniform(1.6e9, 1.8e9) for _ in range(BATCH + 50)]  # 17 digits each
    times[BATCH + 10: BATCH + 15] = [0.1, 1.5, 0.0, -3.25, 1e300]  # the second batch: floats
    times[7] = 2.0**41 - 2.0**-11  # the largest time of the integer range
    times[8] = 2.0**30  # the smallest
    db = tmp_path / "bt.db"
    write_run(db, [(i + 1, t, {"det": t}) for i, t in enumerate(times)], ["det"])
    with open_beamtime(db) as bt:
        table = bt["r1"].table(timestamps=True)
        subset = bt["r1"].table(fields=["det"], timestamps=True)
    for frame in (table, subset):
        assert frame["time"].dtype == np.float64
        assert bits(frame["time"]) == bits(times)
        assert bits(frame["det"]) == bits(times)
        assert bits(frame["ts_det"]) == bits([t + 0.25 for t in times])


def test_a_seq_num_shared_across_a_batch_boundary_keeps_every_row(tmp_path: Path) -> None:
    rows = [(i + 1, T0 + i, {"det": float(i)}) for i in range(BATCH)]
    rows.append((BATCH, T0 - 1.0, {"det": -1.0}))  # the seq_num of the first batch's last row
    rows += [(BATCH + 1 + i, T0 + BATCH + i, {"det": float(BATCH + i)}) for i in range(3)]
    db = tmp_path / "bt.db"
    write_run(db, rows, ["det"])
    expected = sorted(rows, key=lambda r: (r[0], r[1]))
    with open_beamtime(db) as bt:
        for table in (bt["r1"].table(), bt["r1"].table(fields=["det"])):
            assert len(table) == len(rows)
            assert table["seq_num"].tolist() == [r[0] for r in expected]
            assert table["det"].tolist() == [r[2]["det"] for r in expected]


def test_awkward_values_in_later_batches_keep_the_types_pandas_gives_them(
        tmp_path: Path) -> None:
    n = 2 * BATCH + 100
    data: list[dict[str, Any]] = [{"a": float(i), "b": i, "c": "x", "d": [i, i]}
                                  for i in range(n)]
    awkward: list[tuple[str, Any]] = [("a", math.nan), ("a", math.inf), ("b", 2**63 + 5),
                                      ("c", "1e5"), ("c", "007"), ("d", [[1, 2], [3]])]
    for j, (key, value) in enumerate(awkward):
        data[BATCH + 7 * j][key] = value
    del data[BATCH + 50]["b"]  # a key missing from one row of the second batch
    data[2 * BATCH + 3]["late"] = True  # an undeclared key, first seen in the third batch
    del data[2 * BATCH + 3]["c"]  # ... in a row missing another: as many keys as the rest
    db = tmp_path / "bt.db"
    write_run(db, [(i + 1, T0 + i, row) for i, row in enumerate(data)], ["a", "b", "c", "d"])
    with open_beamtime(db) as bt:
        table = bt["r1"].table()
        subset = bt["r1"].table(fields=["b", "c"])
    assert list(table.columns) == ["seq_num", "time", "a", "b", "c", "d", "late"]
    for column in ("a", "b", "c", "d", "late"):
        expected = pd.Series([row.get(column) for row in data])  # as the rows were read
        pd.testing.assert_series_equal(table[column], expected, check_names=False)
    pd.testing.assert_frame_equal(subset, table[["seq_num", "time", "b", "c"]])


def test_a_field_of_nulls_is_a_column_and_a_field_never_held_is_none(tmp_path: Path) -> None:
    rows = [(i + 1, T0 + i, {"det": float(i), "nulls": None} | (
        {"late": i} if i >= BATCH + 5 else {})) for i in range(BATCH + 10)]
    db = tmp_path / "bt.db"
    write_run(db, rows, ["det", "nulls", "late", "never"])
    with open_beamtime(db) as bt:
        subset = bt["r1"].table(fields=["nulls", "never", "late"], timestamps=True)
        full = bt["r1"].table(timestamps=True)
    assert list(subset.columns) == ["seq_num", "time", "nulls", "late", "ts_nulls", "ts_late"]
    assert subset["nulls"].isna().all()
    late = pd.Series([row[2].get("late") for row in rows])  # as the rows were read
    pd.testing.assert_series_equal(subset["late"], late, check_names=False)
    pd.testing.assert_frame_equal(subset, full[list(subset.columns)])


def test_a_seq_num_or_time_stored_as_another_type_is_read_row_by_row(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    write_run(db, [(i + 1, T0 + i, {"det": float(i)}) for i in range(4)], ["det"])
    with sqlite3.connect(db) as conn:  # what another writer of the file could leave
        conn.execute("UPDATE events SET seq_num = 2.5 WHERE uid = 'e000001'")
        conn.execute("UPDATE events SET time = 'soon' WHERE uid = 'e000003'")
    conn.close()
    with open_beamtime(db) as bt:
        table = bt["r1"].table()
    assert table["seq_num"].tolist() == [1.0, 2.5, 3.0, 4.0]
    assert table["time"].tolist() == [T0, T0 + 1, T0 + 2, "soon"]
    assert table["det"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_seq_nums_far_apart_are_read_in_order_up_to_the_largest(tmp_path: Path) -> None:
    seqs = [-5, 1, 2, BATCH + 3, 10**6, 2**62, 2**63 - 1]
    db = tmp_path / "bt.db"
    write_run(db, [(s, T0 + i, {"det": float(i)}) for i, s in enumerate(reversed(seqs))],
              ["det"])
    with open_beamtime(db) as bt:
        for table in (bt["r1"].table(), bt["r1"].table(fields=["det"])):
            assert table["seq_num"].tolist() == seqs
            assert table["det"].tolist() == [float(len(seqs) - 1 - i) for i in range(len(seqs))]


def test_integers_beyond_64_bits_come_back_exact_in_the_table(tmp_path: Path) -> None:
    big = [2**70, -(2**70), 10**30, 2**64]  # orjson alone reads each of them as a float
    db = tmp_path / "bt.db"
    write_run(db, [(i + 1, T0 + i, {"det": v}) for i, v in enumerate(big)], ["det"])
    with open_beamtime(db) as bt:
        table = bt["r1"].table()
        subset = bt["r1"].table(fields=["det"])
    for frame in (table, subset):
        assert list(frame["det"]) == big
        assert all(type(v) is int for v in frame["det"])
