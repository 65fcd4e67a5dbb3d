"""Declared amounts on windows that cover part of their period (pure polars).

A window (or the part of it the data is complete to, ``complete_to_ms``) gets the
pro-rated part of every declared amount, by elapsed time: a window of today up to
10:00 gets 10/24 of the day's added value, month to date on the 4th at 10:00 gets
(3 days 10 h) / 30 days of the month's. Never part of a period's energy against the
whole period's value.

Green power bought per month (绿电交易) is settled per month: used = min(contract, the
month's grid import), the rest unused. Each window gets the month's used green power
in proportion to its grid import (``ratio`` = used / the month's grid import), so the
days and hours of a month add up to the month; clipping window by window would lose
green power on low-import windows. A month still open uses the contract pro-rated by
its elapsed time up to ``complete_to_ms`` against its grid import so far: its earlier
windows are corrected when the month's windows are rolled up again after it closes.
"""

from __future__ import annotations

import polars as pl


def coverage(keys: pl.DataFrame, *, complete_to_ms: int | None) -> pl.DataFrame:
    """``keys`` (``window``, ``window_ms``, ``month_start``, ``month_ms``) with
    ``covered_ms``: the part of the window up to ``complete_to_ms``, and
    ``month_covered_ms``: the part of its month up to it (None: both whole)."""
    if complete_to_ms is None:
        return keys.with_columns(
            covered_ms=pl.col("window_ms"), month_covered_ms=pl.col("month_ms")
        )
    to = pl.lit(complete_to_ms, dtype=pl.Int64)
    return keys.with_columns(
        covered_ms=(to - pl.col("window")).clip(0, pl.col("window_ms")),
        month_covered_ms=(to - pl.col("month_start")).clip(0, pl.col("month_ms")),
    )


def month_grid(
    frame: pl.DataFrame, days: pl.DataFrame | None, *, window: str, day_of: pl.Series
) -> pl.DataFrame:
    """Per enterprise and ``month_start``: the month's grid import so far (``month_grid_kwh``).

    ``frame``: the computation's windows (enterprise, window, month_start, grid_kwh);
    ``days``: the grid import of stored days (enterprise, day, month_start, grid_kwh), up
    to the data's completeness. A month window is its own month; day windows replace the
    stored days they recompute; shorter windows add the days the store does not hold yet.
    """
    own = frame.select("enterprise", "month_start", "grid_kwh")
    if window == "1mo":
        return own.group_by("enterprise", "month_start").agg(
            month_grid_kwh=pl.col("grid_kwh").sum()
        )
    computed = (
        frame.select("enterprise", "month_start", "grid_kwh", day=day_of)
        .group_by("enterprise", "month_start", "day")
        .agg(pl.col("grid_kwh").sum())
    )
    if days is not None and days.height:
        stored = days.select("enterprise", "month_start", "day", "grid_kwh").cast(
            {"day": pl.Int64, "month_start": pl.Int64, "grid_kwh": pl.Float64}
        )
        if window == "1d":  # the days recomputed here are newer than the stored ones
            stored = stored.join(computed, on=["enterprise", "day"], how="anti")
            computed = pl.concat([stored, computed.select(stored.columns)])
        else:  # a day the store holds is whole; this computation sees part of it
            computed = pl.concat(
                [stored, computed.join(stored, on=["enterprise", "day"], how="anti")
                 .select(stored.columns)]
            )  # fmt: skip
    return computed.group_by("enterprise", "month_start").agg(
        month_grid_kwh=pl.col("grid_kwh").sum()
    )


def settle(
    frame: pl.DataFrame, *, contract: str, used: str, unused: str | None = None
) -> pl.DataFrame:
    """``frame`` with the month's volume ``contract`` (kWh), ``grid_kwh``,
    ``month_grid_kwh``, ``covered_ms``, ``month_covered_ms`` and ``month_ms`` gets
    ``used`` (the used part of the month so far, allocated by grid import) and, if named,
    ``unused`` (the month's unused part, allocated by covered time); see the module text."""
    to_date = pl.col(contract).fill_null(0.0) * pl.col("month_covered_ms") / pl.col("month_ms")
    month_used = pl.min_horizontal(to_date, pl.col("month_grid_kwh").fill_null(0.0))
    ratio = pl.when(pl.col("month_grid_kwh") > 0).then(month_used / pl.col("month_grid_kwh"))
    share = (ratio.fill_null(0.0) * pl.col("grid_kwh")).clip(upper_bound=pl.col("grid_kwh"))
    out = frame.with_columns(share.alias(used))
    if unused is None:
        return out
    time_share = pl.when(pl.col("month_covered_ms") > 0).then(
        pl.col("covered_ms") / pl.col("month_covered_ms")
    )
    return out.with_columns(((to_date - month_used) * time_share).fill_null(0.0).alias(unused))
