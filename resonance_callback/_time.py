"""One reading of the times users type: unix times, datetimes, dates and ISO 8601 strings.

Used by every ``since`` / ``until`` filter (the reader, ``runs``, ``search``), so
they all accept the same values and mean the same thing by them.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["TimeLike", "parse_time"]

TimeLike = float | int | dt.datetime | dt.date | str


def parse_time(value: TimeLike, *, end_of_day: bool = False) -> float:
    """Return ``value`` as a unix time.

    Parameters
    ----------
    value : float, int, datetime, date or str
        A unix time, a datetime (naive means local time), a date, or an ISO
        8601 string (a date, or a date and time, optionally with an offset).
        A string holding a number is a unix time.
    end_of_day : bool, optional
        Give a bare date as the midnight that *ends* it instead of the one that
        starts it (for an ``until`` that includes the day).

    Returns
    -------
    float
        Seconds since the epoch.

    Raises
    ------
    ValueError
        If ``value`` is not a time (a string neither a number nor ISO 8601, a bool, ...).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            value = dt.date.fromisoformat(text)
        except ValueError:
            try:
                value = dt.datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a time: give a unix time or an ISO 8601 date "
                    "such as 2026-03-05 or 2026-03-05T14:30"
                ) from None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dt.date):
        if end_of_day:
            value += dt.timedelta(days=1)
        return dt.datetime.combine(value, dt.time()).timestamp()
    raise ValueError(f"{value!r} is not a time")
