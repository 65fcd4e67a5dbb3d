"""Energy-use quota burn-down and month-end forecast (pure)."""

from __future__ import annotations

import calendar
from datetime import date

import polars as pl


def burn_down(daily: pl.DataFrame, quotas: dict[str, float], *, as_of: date) -> pl.DataFrame:
    """Per enterprise: tce used this month up to ``as_of`` (inclusive) and the month-end forecast.

    ``daily``: enterprise, day (date), energy_tce. The forecast extends the mean daily
    use of the month's days so far over the whole month; ``forecast_breach`` says it
    crosses the quota before the quota itself is used up.
    """
    first = as_of.replace(day=1)
    days_in_month = calendar.monthrange(as_of.year, as_of.month)[1]
    elapsed = (as_of - first).days + 1
    month = daily.filter((pl.col("day") >= first) & (pl.col("day") <= as_of))
    used = month.group_by("enterprise").agg(used_tce=pl.col("energy_tce").sum())
    quota = pl.DataFrame(
        {"enterprise": list(quotas), "quota_tce": list(quotas.values())},
        schema={"enterprise": pl.Utf8, "quota_tce": pl.Float64},
    )
    return (
        quota.join(used, on="enterprise", how="left")
        .with_columns(pl.col("used_tce").fill_null(0.0))
        .with_columns(
            used_pct=pl.col("used_tce") / pl.col("quota_tce") * 100,
            forecast_tce=pl.col("used_tce") / elapsed * days_in_month,
            days_elapsed=pl.lit(elapsed),
            days_in_month=pl.lit(days_in_month),
        )
        .with_columns(
            forecast_pct=pl.col("forecast_tce") / pl.col("quota_tce") * 100,
            forecast_breach=pl.col("forecast_tce") > pl.col("quota_tce"),
            breached=pl.col("used_tce") > pl.col("quota_tce"),
        )
        .sort("enterprise")
    )
