"""Meter semantics over polars frames (pure): counters to interval use, gauges to means.

Counter readings come as ``sensor, ts (epoch ms), value`` (the raw register), with
each sensor's ``multiplier`` and ``rollover`` beside them; ``rollover`` is the
register's modulus, what a wrap adds: its largest value + its last digit (999,999.99
wraps at 1,000,000.00: ``sensorspec.SensorSpec.modulus``). For every reading after
a sensor's first, the use since the reading before is

    (value - previous) x multiplier                       normally,
    (value + rollover - previous) x multiplier            when the register wrapped
                                                          (previous in its top 10 %,
                                                          value in its bottom 10 %, and
                                                          the next reading does not go
                                                          on from previous instead),
    0, flagged ``reset``                                  for any other drop, or a rise
                                                          beyond the meter's plausible
                                                          rate: a meter replaced or reset,
                                                          confirmed by the next reading
                                                          continuing from the new level,

and is attributed to the interval that holds the later reading. A reading that is
implausible from the one before while the one after is plausible from that one (a
single glitch, low or high) is excluded and the next interval flagged ``outlier``:
its use is never invented, only its own readings' difference counts. Plausible: up
(or wrapping) by at most ``max_per_ms`` x the interval (at least a minute), where
``max_per_ms`` = the sensor's ``rated_per_h`` x the configured tolerance / multiplier
(the registry requires a rating of every counter sensor; a frame without one is only
checked for drops). A wrap as a sensor's newest reading stands until the next reading
says otherwise (the rating bounds it meanwhile). A pair further
apart than ``max_gap_ms`` keeps its (real, metered) delta but is flagged ``gap``:
nothing is invented for the missing readings. Duplicates (same sensor and ts) count
once; out-of-order readings are sorted first.
"""

from __future__ import annotations

from enum import IntFlag

import polars as pl

from smartpark.model import MIN_RATE_INTERVAL_MS, ROLLOVER_BAND
from smartpark.windows import (
    UNIFORM_MS,
    WINDOWS,
    window_end,
    window_ends,
    window_start,
    window_starts,
)

__all__ = [
    "WINDOWS",
    "Flag",
    "counter_use",
    "spanned",
    "time_weighted_mean",
    "window_end",
    "window_ends",
    "window_start",
    "window_starts",
    "windowed",
]


class Flag(IntFlag):
    """Data-quality flags of an interval; OR-ed together when intervals are summed."""

    OK = 0
    GAP = 1
    RESET = 2
    ROLLOVER = 4
    FIRST = 8  # the sensor's first reading: no interval before it
    OUTLIER = 16  # a reading before this one was implausible and is excluded


def counter_use(readings: pl.DataFrame, meters: pl.DataFrame, *, max_gap_ms: int) -> pl.DataFrame:
    """Per reading: ``sensor, ts, use`` (physical units) and ``flag``; see the module text.

    ``readings``: sensor (str), ts (i64 ms), value (f64). ``meters``: sensor, multiplier
    (f64), rollover (f64, null when the register does not wrap) and optionally
    ``max_per_ms`` (register units per ms a plausible interval may add, null for no upper
    bound). Readings of sensors not in ``meters`` are left out. ``sensor`` comes back as
    an Enum of the meters; readings excluded as outliers are not returned.
    """
    enum = pl.Enum(meters["sensor"].cast(pl.Utf8).to_list())
    meters = meters.with_columns(pl.col("sensor").cast(pl.Utf8).cast(enum))
    if "max_per_ms" not in meters.columns:
        meters = meters.with_columns(max_per_ms=pl.lit(None, dtype=pl.Float64))
    # Sorting on the Enum's integer codes, then dropping equal neighbours, is several
    # times faster than a hash-based unique() on millions of rows.
    frame = (
        readings.select(pl.col("sensor").cast(pl.Utf8).cast(enum, strict=False), "ts", "value")
        .drop_nulls("sensor")
        .sort("sensor", "ts", maintain_order=True)
    )
    duplicate = (pl.col("sensor") == pl.col("sensor").shift(-1)) & (
        pl.col("ts") == pl.col("ts").shift(-1)
    )
    frame = frame.filter(~duplicate.fill_null(False)).join(meters, on="sensor", how="left")
    frame = _steps(frame)
    if frame["bad"].any() or frame["wrapped"].any():
        # An isolated outlier (a Modbus glitch, low or high) is a reading implausible from
        # the one before while the one after is plausible from the one before: excluded,
        # the next interval flagged. A wrap is confirmed the same way: a "wrap" the next
        # reading undoes (it goes on from the level before, without wrapping) was a glitch
        # read near 0. Only checked when some reading is implausible or wraps at all.
        nxt = pl.col("sensor") == pl.col("sensor").shift(-1)
        after = (pl.col("value").shift(-1), pl.col("ts").shift(-1))
        bridged = nxt & _plausible(pl.col("prev"), pl.col("prev_ts"), *after)
        undone = nxt & _plausible(pl.col("prev"), pl.col("prev_ts"), *after, wraps=False)
        outlier = (pl.col("bad") & bridged) | (pl.col("wrapped") & undone)
        frame = frame.with_columns(outlier=outlier.fill_null(False))
        frame = frame.with_columns(
            after=pl.col("outlier").shift(1).fill_null(False)
            & (pl.col("sensor") == pl.col("sensor").shift(1))
        ).filter(~pl.col("outlier"))
        frame = _steps(frame.drop("prev", "prev_ts", "step", "wrapped", "bad", "outlier"))
    else:
        frame = frame.with_columns(after=pl.lit(False))
    first = pl.col("prev").is_null()
    # ``bad`` now means a drop outside the rollover band, or a rise beyond the meter's
    # plausible rate, that the next reading confirms: the meter was reset or replaced.
    delta = pl.when(first | pl.col("bad")).then(0.0).otherwise(pl.col("step"))
    flag = (
        pl.when(first)
        .then(int(Flag.FIRST))
        .when(pl.col("bad"))
        .then(int(Flag.RESET))
        .when(pl.col("wrapped"))
        .then(int(Flag.ROLLOVER))
        .otherwise(0)
        + pl.when(pl.col("ts") - pl.col("prev_ts") > max_gap_ms).then(int(Flag.GAP)).otherwise(0)
        + pl.when(pl.col("after")).then(int(Flag.OUTLIER)).otherwise(0)
    )
    return frame.select(
        "sensor",
        "ts",
        "prev_ts",
        use=delta * pl.col("multiplier").fill_null(1.0),
        flag=flag.cast(pl.Int32),
    )


def windowed(use: pl.DataFrame, *, window: str, tz: str, pro_rata: bool) -> pl.DataFrame:
    """Interval use (from :func:`counter_use`) to windows: ``sensor, window, use, flag,
    reading`` (1 on the row that counts a reading in the window its timestamp is in).

    By default (``pro_rata`` false) an interval's use goes to the window of its later
    reading. Pro rata, the use of an interval [prev_ts, ts) is spread over the windows it
    overlaps in proportion to time, so a day holds what was metered between its two
    midnights (interpolated where no reading falls on them); readings are still counted
    in their own windows.
    """
    own = window_starts(use["ts"], window=window, tz=tz)
    if not pro_rata:
        return use.select("sensor", window=own, use="use", flag="flag", reading=pl.lit(1))
    has_prev = use["prev_ts"].is_not_null() & (use["ts"] > use["prev_ts"])
    first = window_starts(use["prev_ts"].fill_null(use["ts"]), window=window, tz=tz)
    last = window_starts(use["ts"] - 1, window=window, tz=tz)
    frame = use.with_columns(own=own, first=first, last=last, has_prev=has_prev)
    inside = ~pl.col("has_prev") | (
        (pl.col("first") == pl.col("own")) & (pl.col("last") == pl.col("own"))
    )
    simple = frame.filter(inside).select(
        "sensor", window="own", use="use", flag="flag", reading=pl.lit(1)
    )
    spread = frame.filter(~inside)
    if spread.height == 0:
        return simple
    counted = spread.select(
        "sensor", window="own", use=pl.lit(0.0), flag=pl.lit(0, dtype=pl.Int32), reading=pl.lit(1)
    )
    # Within one window that is not the reading's own (it ends on the boundary): moved
    # whole; across windows: cut by time.
    one = pl.col("first") == pl.col("last")
    moved = spread.filter(one).select(
        "sensor", window="first", use="use", flag="flag", reading=pl.lit(0)
    )
    pieces = _pieces(spread.filter(~one), window=window, tz=tz)
    length = pl.col("ts") - pl.col("prev_ts")
    overlap = pl.min_horizontal("ts", "end") - pl.max_horizontal("prev_ts", "window")
    pieces = pieces.filter(overlap > 0).select(
        "sensor", "window", use=pl.col("use") * overlap / length, flag="flag", reading=pl.lit(0)
    )
    return pl.concat([simple, counted, moved, pieces], how="vertical_relaxed")


def spanned(lo: pl.Series, hi: pl.Series, *, window: str, tz: str) -> pl.Series:
    """The starts of every ``window`` from the one holding each ``lo`` to the one holding
    its ``hi`` (``hi`` >= ``lo``), once each."""
    frame = pl.DataFrame(
        {
            "first": window_starts(lo, window=window, tz=tz),
            "last": window_starts(hi, window=window, tz=tz),
        }
    )
    return _pieces(frame, window=window, tz=tz)["window"].unique()


def _pieces(spread: pl.DataFrame, *, window: str, tz: str) -> pl.DataFrame:
    """Each interval of ``spread`` once per window it overlaps, with ``window`` and ``end``."""
    if window in UNIFORM_MS:  # starts step by the length; days and months are walked
        size = UNIFORM_MS[window]
        out = spread.with_columns(
            window=pl.int_ranges("first", pl.col("last") + size, size, dtype=pl.Int64)
        ).explode("window")
        return out.with_columns(end=pl.col("window") + size)
    if spread.height == 0:
        return spread.with_columns(window=pl.col("first"), end=pl.col("last"))
    parts, cur = [], spread.with_columns(window=pl.col("first"))
    while cur.height:
        cur = cur.with_columns(end=window_ends(cur["window"], window=window, tz=tz))
        parts.append(cur)
        cur = cur.filter(pl.col("end") <= pl.col("last")).with_columns(window=pl.col("end"))
    return pl.concat(parts)


def _steps(frame: pl.DataFrame) -> pl.DataFrame:
    """Add each reading's ``prev``/``prev_ts`` (same sensor), ``step`` (the register
    difference, across a wrap when it ``wrapped``) and ``bad`` (implausible)."""
    same = pl.col("sensor") == pl.col("sensor").shift(1)
    frame = frame.with_columns(
        prev=pl.when(same).then(pl.col("value").shift(1)),
        prev_ts=pl.when(same).then(pl.col("ts").shift(1)),
    )
    top = pl.col("rollover")
    raw = pl.col("value") - pl.col("prev")
    wrapped = (
        (raw < 0)
        & top.is_not_null()
        & (pl.col("prev") >= top * (1 - ROLLOVER_BAND))
        & (pl.col("value") <= top * ROLLOVER_BAND)
    )
    frame = frame.with_columns(
        wrapped=wrapped.fill_null(False), step=pl.when(wrapped).then(raw + top).otherwise(raw)
    )
    limit = pl.col("max_per_ms") * (pl.col("ts") - pl.col("prev_ts")).clip(
        lower_bound=MIN_RATE_INTERVAL_MS
    )
    bad = pl.col("prev").is_not_null() & (
        (pl.col("step") < 0) | (limit.is_not_null() & (pl.col("step") > limit))
    )
    return frame.with_columns(bad=bad.fill_null(False))


def _plausible(
    v0: pl.Expr, t0: pl.Expr, v1: pl.Expr, t1: pl.Expr, *, wraps: bool = True
) -> pl.Expr:
    """True when the register may go from v0 at t0 to v1 at t1: up (or, with ``wraps``,
    wrapping at its rollover) by no more than the meter's plausible rate allows (at least
    a minute's worth, so timestamp jitter never makes a reading implausible)."""
    top = pl.col("rollover")
    step = v1 - v0
    wrapped = (
        pl.lit(wraps)
        & (step < 0)
        & top.is_not_null()
        & (v0 >= top * (1 - ROLLOVER_BAND))
        & (v1 <= top * ROLLOVER_BAND)
    )
    step = pl.when(wrapped).then(step + top).otherwise(step)
    limit = pl.col("max_per_ms") * (t1 - t0).clip(lower_bound=MIN_RATE_INTERVAL_MS)
    return (step >= 0) & (limit.is_null() | (step <= limit))


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
