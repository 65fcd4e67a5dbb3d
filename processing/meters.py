"""Meter semantics over polars frames (pure): counters to interval use, gauges to means.

Counter readings come as ``sensor, ts (epoch ms), value`` (the raw register), with
each sensor's ``multiplier`` and ``rollover`` beside them. For every reading after
a sensor's first, the use since the reading before is

    (value - previous) x multiplier                       normally,
    (value + rollover - previous) x multiplier            when the register wrapped
                                                          (previous in its top 10 %,
                                                          value in its bottom 10 %),
    0, flagged ``reset``                                  for any other drop: a meter
                                                          replaced or reset; a negative
                                                          delta is never consumption,

and is attributed to the interval that holds the later reading. A pair further
apart than ``max_gap_ms`` keeps its (real, metered) delta but is flagged ``gap``:
nothing is invented for the missing readings. Duplicates (same sensor and ts) count
once; out-of-order readings are sorted first.
"""

from __future__ import annotations

from enum import IntFlag

import polars as pl

from smartpark.model import ROLLOVER_BAND
from smartpark.windows import WINDOWS, window_end, window_ends, window_start, window_starts

__all__ = [
    "WINDOWS",
    "Flag",
    "counter_use",
    "time_weighted_mean",
    "window_end",
    "window_ends",
    "window_start",
    "window_starts",
]


class Flag(IntFlag):
    """Data-quality flags of an interval; OR-ed together when intervals are summed."""

    OK = 0
    GAP = 1
    RESET = 2
    ROLLOVER = 4
    FIRST = 8  # the sensor's first reading: no interval before it


def counter_use(readings: pl.DataFrame, meters: pl.DataFrame, *, max_gap_ms: int) -> pl.DataFrame:
    """Per reading: ``sensor, ts, use`` (physical units) and ``flag``; see the module text.

    ``readings``: sensor (str), ts (i64 ms), value (f64). ``meters``: sensor, multiplier
    (f64), rollover (f64, null when the register does not wrap). Readings of sensors
    not in ``meters`` are left out. ``sensor`` comes back as an Enum of the meters.
    """
    enum = pl.Enum(meters["sensor"].cast(pl.Utf8).to_list())
    meters = meters.with_columns(pl.col("sensor").cast(pl.Utf8).cast(enum))
    # Sorting on the Enum's integer codes, then dropping equal neighbours, is several
    # times faster than a hash-based unique() on millions of rows.
    frame = (
        readings.select(pl.col("sensor").cast(pl.Utf8).cast(enum, strict=False), "ts", "value")
        .drop_nulls("sensor")
        .sort("sensor", "ts", maintain_order=True)
    )
    same_sensor = pl.col("sensor") == pl.col("sensor").shift(1)
    duplicate = (pl.col("sensor") == pl.col("sensor").shift(-1)) & (
        pl.col("ts") == pl.col("ts").shift(-1)
    )
    frame = frame.filter(~duplicate.fill_null(False)).join(meters, on="sensor", how="left")
    prev = pl.when(same_sensor).then(pl.col("value").shift(1))
    prev_ts = pl.when(same_sensor).then(pl.col("ts").shift(1))
    raw = pl.col("value") - prev
    top = pl.col("rollover")
    wrapped = (
        (raw < 0)
        & top.is_not_null()
        & (prev >= top * (1 - ROLLOVER_BAND))
        & (pl.col("value") <= top * ROLLOVER_BAND)
    )
    delta = (
        pl.when(prev.is_null())
        .then(0.0)
        .when(wrapped)
        .then(raw + top)
        .when(raw < 0)
        .then(0.0)
        .otherwise(raw)
    )
    flag = pl.when(prev.is_null()).then(int(Flag.FIRST)).when(wrapped).then(
        int(Flag.ROLLOVER)
    ).when(raw < 0).then(int(Flag.RESET)).otherwise(0) + pl.when(
        pl.col("ts") - prev_ts > max_gap_ms
    ).then(int(Flag.GAP)).otherwise(0)
    return frame.select(
        "sensor",
        "ts",
        use=delta * pl.col("multiplier").fill_null(1.0),
        flag=flag.cast(pl.Int32),
    )


def time_weighted_mean(
    readings: pl.DataFrame, *, window: str, tz: str, max_gap_ms: int
) -> pl.DataFrame:
    """Per sensor and window: the mean of a gauge, each value held until the next reading.

    A value is held at most ``max_gap_ms`` and never past its window's end; time not
    covered by any reading does not count. Returns ``sensor, window, mean, covered_ms``.
    """
    frame = (
        readings.unique(subset=["sensor", "ts"], keep="last", maintain_order=True)
        .sort("sensor", "ts")
        .with_columns(window=window_start(pl.col("ts"), window=window, tz=tz))
        .with_columns(window_end=window_end(pl.col("window"), window=window, tz=tz))
    )
    nxt = pl.col("ts").shift(-1).over("sensor")
    held = (
        pl.min_horizontal(
            nxt.fill_null(pl.col("ts") + max_gap_ms),
            pl.col("ts") + max_gap_ms,
            pl.col("window_end"),
        )
        - pl.col("ts")
    ).clip(lower_bound=0)
    return (
        frame.with_columns(held=held)
        .group_by("sensor", "window", maintain_order=True)
        .agg(
            mean=(pl.col("value") * pl.col("held")).sum() / pl.col("held").sum(),
            covered_ms=pl.col("held").sum(),
        )
        .sort("sensor", "window")
    )
