"""Compare document streams, SQL tables and Zarr stores field by field (numpy- and NaN-aware)."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import event_model
import numpy as np
import zarr
from ophyd.sim import NumpySeqHandler

from resonance_callback import jsoncodec

Docs = Sequence[tuple[str, dict[str, Any]]]


def _is_array_like(value: Any) -> bool:
    return isinstance(value, np.ndarray | list | tuple)


def assert_same_value(expected: Any, actual: Any, where: str = "") -> None:
    """Assert two document values are equal: lists, tuples and arrays alike, NaN == NaN.

    Numbers compare by value (``np.float64(1.0) == 1.0``) but a bool only equals
    a bool; arrays must agree in shape and values, and in dtype when both are
    numpy arrays.
    """
    if isinstance(expected, dict) or isinstance(actual, dict):
        assert isinstance(expected, dict) and isinstance(actual, dict), (
            f"{where}: {expected!r} != {actual!r}")
        assert list(expected) == list(actual) or set(expected) == set(actual), (
            f"{where}: keys {sorted(expected)} != {sorted(actual)}")
        for key in expected:
            assert_same_value(expected[key], actual[key], f"{where}.{key}")
        return
    if isinstance(expected, np.ndarray) and isinstance(actual, np.ndarray):
        assert expected.dtype == actual.dtype, f"{where}: dtype {expected.dtype} != {actual.dtype}"
    if _is_array_like(expected) or _is_array_like(actual):
        assert _is_array_like(expected) and _is_array_like(actual), (
            f"{where}: {expected!r} != {actual!r}")
        if isinstance(expected, np.ndarray) or isinstance(actual, np.ndarray):
            a, b = np.asarray(expected), np.asarray(actual)
            assert a.shape == b.shape, f"{where}: shape {a.shape} != {b.shape}"
            if a.dtype.kind in "fc" or b.dtype.kind in "fc":
                assert np.array_equal(a, b, equal_nan=True), f"{where}: arrays differ"
                return
            if a.dtype != object and b.dtype != object:
                assert np.array_equal(a, b), f"{where}: arrays differ"
                return
        assert len(expected) == len(actual), f"{where}: length {len(expected)} != {len(actual)}"
        for i, (x, y) in enumerate(zip(expected, actual, strict=True)):
            assert_same_value(x, y, f"{where}[{i}]")
        return
    if isinstance(expected, np.generic):
        expected = expected.item()
    if isinstance(actual, np.generic):
        actual = actual.item()
    if isinstance(expected, bool) or isinstance(actual, bool):
        assert expected is actual, f"{where}: {expected!r} != {actual!r}"
        return
    if isinstance(expected, float) and isinstance(actual, float | int) and math.isnan(expected):
        assert isinstance(actual, float) and math.isnan(actual), f"{where}: NaN != {actual!r}"
        return
    assert type(expected) is type(actual) or (
        isinstance(expected, int | float) and isinstance(actual, int | float)), (
        f"{where}: {type(expected).__name__} {expected!r} != {type(actual).__name__} {actual!r}")
    assert expected == actual, f"{where}: {expected!r} != {actual!r}"


#: Handlers for the detector files the tests' devices write (ophyd.sim ``img``).
HANDLERS = {"NPY_SEQ": NumpySeqHandler}


def filled(docs: Docs) -> list[tuple[str, dict[str, Any]]]:
    """The stream as event-model's ``Filler`` fills it: external arrays read from their files.

    Each event's external field becomes the array its datum points to, and
    ``filled[key]`` that datum's id; the documents given are not changed. Use
    it while the files are still there. ophyd-async stream documents pass
    through unchanged (their data is not in the events).
    """
    with event_model.Filler(HANDLERS, inplace=False) as filler:
        return [filler(name, doc) for name, doc in docs]


def _label(i: int, name: str, doc: dict[str, Any]) -> str:
    return f"doc {i} ({name} {doc.get('uid') or doc.get('datum_id')})"


def assert_same_documents(expected: Docs, actual: Docs, *, strict_order: bool = True) -> None:
    """Assert two document streams hold the same documents, field by field.

    Parameters
    ----------
    expected, actual : sequence of (name, doc)
        The streams.
    strict_order : bool, optional
        Require the same order overall; if False, only the same order within
        each stream (documents grouped by descriptor, and the run-level ones).
    """
    names_e = [n for n, _ in expected]
    names_a = [n for n, _ in actual]
    assert sorted(names_e) == sorted(names_a), f"document names differ:\n{names_e}\n{names_a}"
    if not strict_order:
        expected, actual = _by_stream(expected), _by_stream(actual)
    order_e = [(n, d.get("uid") or d.get("datum_id")) for n, d in expected]
    order_a = [(n, d.get("uid") or d.get("datum_id")) for n, d in actual]
    assert order_e == order_a, _first_difference(order_e, order_a)
    for i, ((name, exp), (_, act)) in enumerate(zip(expected, actual, strict=True)):
        assert_same_value(exp, act, _label(i, name, exp))


def _by_stream(docs: Docs) -> list[tuple[str, dict[str, Any]]]:
    stream_of: dict[str, int] = {}
    keyed = []
    for i, (name, doc) in enumerate(docs):
        if name == "descriptor":
            stream_of[doc["uid"]] = i
        group = stream_of.get(doc.get("descriptor", ""), -1) if name == "event" else -1
        keyed.append((group, i, name, doc))
    return [(name, doc) for _, _, name, doc in sorted(keyed, key=lambda t: t[:2])]


def _first_difference(a: list[Any], b: list[Any]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"order differs at {i}: expected {x}, got {y}\n{a}\n{b}"
    return f"lengths differ: {len(a)} != {len(b)}"


#: A derived row (``derived = 1``, made by the writer for a fly scan's frames)
#: has a uid the writer drew and the time its stream_datum was received: it is
#: identified by its stream and seq_num instead, and its time is not compared.
_EVENT_KEY = "CASE WHEN {e}derived THEN 'derived ' || {e}stream_uid || ' #' || {e}seq_num " \
             "ELSE {e}uid END"

#: Columns compared per table: every column but surrogate ids, JSON decoded.
TABLES = {
    "runs": ("uid", "(SELECT name FROM samples WHERE id = sample_id)", "plan_name", "scan_id",
             "time_start", "time_stop", "exit_status", "reason", "metadata", "stop_document"),
    "samples": ("name", "metadata"),
    "streams": ("uid", "run_uid", "name", "time", "data_keys", "configuration", "document"),
    "events": (_EVENT_KEY.format(e=""), "stream_uid", "seq_num",
               "CASE WHEN derived THEN NULL ELSE time END", "data", "timestamps", "filled",
               "derived"),
    "image_refs": (f"(SELECT {_EVENT_KEY.format(e='e.')} FROM events e WHERE e.uid = event_uid)",
                   "field_name", "zarr_path", "frame_index", "compression_codec", "timestamp"),
    "external_documents": ("name", "uid", "run_uid", "ordinal", "document"),
}


def table_rows(db: Path, table: str) -> list[tuple[Any, ...]]:
    """Rows of one table with the columns of :data:`TABLES`, in a stable order."""
    conn = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True)
    try:
        columns = ", ".join(TABLES[table])
        return sorted(conn.execute(f"SELECT {columns} FROM {table}").fetchall(),
                      key=lambda r: tuple(str(v) for v in r))
    finally:
        conn.close()


def assert_same_tables(expected_db: Path, actual_db: Path,
                       tables: Iterable[str] = tuple(TABLES)) -> None:
    """Assert two beamtime databases hold identical rows (JSON text compared exactly)."""
    for table in tables:
        exp, act = table_rows(expected_db, table), table_rows(actual_db, table)
        assert len(exp) == len(act), f"{table}: {len(exp)} rows != {len(act)} rows"
        for row_e, row_a in zip(exp, act, strict=True):
            for column, x, y in zip(TABLES[table], row_e, row_a, strict=True):
                if x != y:  # say which value differs, decoded
                    assert_same_value(jsoncodec.loads(x) if isinstance(x, str) else x,
                                      jsoncodec.loads(y) if isinstance(y, str) else y,
                                      f"{table}.{column} of {row_e[0]}")
                    raise AssertionError(f"{table}.{column} of {row_e[0]}: {x!r} != {y!r}")


def zarr_arrays(store: Path) -> dict[str, np.ndarray]:
    """Every array of a Zarr store, read whole, by path."""
    group = zarr.open_group(str(store), mode="r")
    out: dict[str, np.ndarray] = {}

    def walk(g: zarr.Group, prefix: str) -> None:
        for name, member in g.members():
            path = f"{prefix}{name}"
            if isinstance(member, zarr.Array):
                out[path] = np.asarray(member[...])
            else:
                walk(member, f"{path}/")

    walk(group, "")
    return out


def assert_same_frames(expected_store: Path, actual_store: Path) -> None:
    """Assert two Zarr stores hold the same arrays with the same frames and dtypes."""
    exp, act = zarr_arrays(expected_store), zarr_arrays(actual_store)
    assert sorted(exp) == sorted(act), f"arrays differ: {sorted(exp)} != {sorted(act)}"
    for path, array in exp.items():
        assert_same_value(array, act[path], path)
