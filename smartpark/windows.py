"""Windows in a park's local time: 1m, 15m, 1h, 1d and calendar months (pure).

Shared by processing (KPI windows) and alerts (CEMS hours). Window starts and ends
are epoch milliseconds; a day or a month starts at local midnight.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import polars as pl

WINDOWS = {"1m": "1m", "15m": "15m", "1h": "1h", "1d": "1d", "1mo": "1mo"}
_DAY_MS = 86_400_000
#: Windows of one length everywhere (local offsets are whole quarter-hours).
UNIFORM_MS = {"1m": 60_000, "15m": 900_000, "1h": 3_600_000}
#: Windows of one length but across a DST change (a local day is 23 or 25 h then).
FIXED_MS = {**UNIFORM_MS, "1d": _DAY_MS}
#: The shortest each window can be (a month: 28 days); what bounds a count of windows.
SHORTEST_MS = {**FIXED_MS, "1mo": 28 * _DAY_MS}


def _constant_offset_ms(lo_ms: int, hi_ms: int, tz: str) -> int | None:
    """The zone's UTC offset if it is the same over [lo, hi], else None (a DST change).

    Offsets are sampled weekly: zones change at most twice a year, months apart.
    """
    zone = ZoneInfo(tz)
    samples = [*range(lo_ms, hi_ms, 7 * _DAY_MS), hi_ms]
    offsets = set()
    for ms in samples:
        offset = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).utcoffset()
        offsets.add(int(offset.total_seconds() * 1000) if offset is not None else 0)
    return offsets.pop() if len(offsets) == 1 else None


def window_starts(ts: pl.Series, *, window: str, tz: str) -> pl.Series:
    """``window_start`` over a Series, with integer arithmetic where the offset is constant.

    Gives the same result as :func:`window_start`; the conversion through time zones
    is 40x slower on millions of readings, so it is kept for spans with a DST change.
    """
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; one of {', '.join(WINDOWS)}")
    if ts.len() == 0 or ts.null_count():
        return pl.select(window_start(pl.lit(ts), window=window, tz=tz)).to_series()
    lo, hi = ts.min(), ts.max()
    assert isinstance(lo, int) and isinstance(hi, int)
    offset = _constant_offset_ms(lo, hi, tz)
    if offset is None:
        return pl.select(window_start(pl.lit(ts), window=window, tz=tz)).to_series()
    if window in FIXED_MS:
        size = FIXED_MS[window]
        return ((ts + offset) // size) * size - offset
    days = (ts + offset) // _DAY_MS
    zone = ZoneInfo(tz)
    months = {}
    for day in days.unique().to_list():
        local = datetime.fromtimestamp(day * 86_400, UTC).replace(day=1)
        months[day] = int(local.replace(tzinfo=zone).timestamp() * 1000)
    return days.replace_strict(months, return_dtype=pl.Int64)


def window_start(ts_ms: pl.Expr, *, window: str, tz: str) -> pl.Expr:
    """Epoch ms of the start of the local-time window (1m, 15m, 1h, 1d, 1mo) holding ts."""
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; one of {', '.join(WINDOWS)}")
    local = (
        pl.from_epoch(ts_ms, time_unit="ms").dt.replace_time_zone("UTC").dt.convert_time_zone(tz)
    )
    return local.dt.truncate(WINDOWS[window]).dt.epoch("ms")


def window_ends(starts: pl.Series, *, window: str, tz: str) -> pl.Series:
    """``window_end`` over a Series of window starts, fast where the offset is constant."""
    if starts.len() == 0 or starts.null_count():
        return pl.select(window_end(pl.lit(starts), window=window, tz=tz)).to_series()
    lo, hi = starts.min(), starts.max()
    assert isinstance(lo, int) and isinstance(hi, int)
    if window in FIXED_MS and _constant_offset_ms(lo, hi + FIXED_MS[window], tz) is not None:
        return starts + FIXED_MS[window]
    if window == "1mo":  # few distinct months: compute each once
        unique = starts.unique()
        ends = pl.select(window_end(pl.lit(unique), window=window, tz=tz)).to_series()
        mapping = dict(zip(unique.to_list(), ends.to_list(), strict=True))
        return starts.replace_strict(mapping, return_dtype=pl.Int64)
    return pl.select(window_end(pl.lit(starts), window=window, tz=tz)).to_series()


def window_end(start_ms: pl.Expr, *, window: str, tz: str) -> pl.Expr:
    """Epoch ms of the end of the window starting at ``start_ms`` (calendar-aware)."""
    local = (
        pl.from_epoch(start_ms, time_unit="ms").dt.replace_time_zone("UTC").dt.convert_time_zone(tz)
    )
    return local.dt.offset_by(WINDOWS[window]).dt.epoch("ms")
