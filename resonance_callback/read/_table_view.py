"""What :meth:`Run.table` makes of a stream's stored table: scalars of shape [1], datetimes.

The stored table (:func:`~resonance_callback.read._table.stream_table`) keeps every
value as it came; :class:`Stream` reads that one. What a user is given:

- a field declared a scalar (``dtype`` number, integer, boolean or string) of
  shape ``[1]`` whose every value is a one-element list (ophyd-async's
  ``det-sum``) is one scalar per row, as ``stream.read()`` gives it and as
  TiledWriter serves it (an array node of shape ``(N,)``);
- with ``time="datetime"``, ``time`` (and every ``ts_`` column) are
  timezone-aware pandas datetimes in UTC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resonance_callback.errors import FilterError
from resonance_callback.read._columns import SCALAR_DTYPES

if TYPE_CHECKING:
    import pandas

__all__ = ["TIME_KINDS", "as_datetimes", "check_time_kind", "unwrap_scalars"]

#: The values of :meth:`Run.table`'s ``time``: Unix seconds (floats) or UTC datetimes.
TIME_KINDS = ("unix", "datetime")


def unwrap_scalars(table: pandas.DataFrame, descriptors: list[dict[str, Any]]
                   ) -> pandas.DataFrame:
    """``table`` with each field declared a scalar of shape [1] as one scalar per row.

    A column is changed only when every value is a one-element list; anything
    else (a missing value, a longer list) leaves it as stored.
    """
    for desc in descriptors:
        for key, data_key in (desc.get("data_keys") or {}).items():
            if not isinstance(data_key, dict) or data_key.get("dtype") not in SCALAR_DTYPES:
                continue
            if list(data_key.get("shape") or ()) != [1]:
                continue
            column = f"{key}_" if key in ("seq_num", "time") else key
            if column not in table.columns:
                continue
            values = table[column].tolist()
            if values and all(isinstance(v, list) and len(v) == 1 for v in values):
                table[column] = [v[0] for v in values]
    return table


def check_time_kind(time: str, uid: str) -> None:
    """Refuse a ``time`` not in :data:`TIME_KINDS` before anything is read.

    Raises
    ------
    ValueError
        For any other ``time`` (:class:`FilterError`, naming the run).
    """
    if time not in TIME_KINDS:
        raise FilterError(f"run {uid}: table(time={time!r}) is not one of {list(TIME_KINDS)}")


def as_datetimes(table: pandas.DataFrame, time: str) -> pandas.DataFrame:
    """``table`` with its times as ``time`` asks: ``"unix"`` as stored, ``"datetime"`` in UTC."""
    if time != "datetime":
        return table
    import pandas as pd

    for column in table.columns:
        if column == "time" or column.startswith("ts_"):
            stamps = pd.to_datetime(table[column].astype("float64"), unit="s", utc=True)
            table[column] = stamps.dt.as_unit("ns")
    return table
