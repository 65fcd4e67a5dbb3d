"""Month burn-down and month-end forecast of a limit (pure): energy-use quotas (tce,
能耗双控) and carbon budgets (tCO2, 碳排放双控) burn the same way."""

from __future__ import annotations

import calendar
from datetime import date

import polars as pl

from smartpark.limits import month_end_forecast


def burn_down(
    daily: pl.DataFrame,
    limits: dict[str, float],
    *,
    as_of: date,
    unit: str = "tce",
    limit: str = "quota",
) -> pl.DataFrame:
    """Per scope: what was used this month up to ``as_of`` (inclusive) and the month-end
    forecast, against its monthly limit.

    ``daily``: enterprise, day (date), used (in ``unit``). Columns out: ``used_{unit}``,
    ``{limit}_{unit}``, ``forecast_{unit}``, ``used_pct``, ``forecast_pct``, the days
    elapsed and in the month, ``breached`` and ``forecast_breach``. The forecast extends
    the mean daily use of the month's days so far over the whole month
    (``smartpark.limits.month_end_forecast``, as the alert rules do);
    ``forecast_breach`` says it crosses the limit before the limit itself is used up.
    """
    used, cap, forecast = f"used_{unit}", f"{limit}_{unit}", f"forecast_{unit}"
    first = as_of.replace(day=1)
    days_in_month = calendar.monthrange(as_of.year, as_of.month)[1]
    elapsed = (as_of - first).days + 1
    month = daily.filter((pl.col("day") >= first) & (pl.col("day") <= as_of))
    sums = month.group_by("enterprise").agg(pl.col("used").sum().alias(used))
    limit_frame = pl.DataFrame(
        {"enterprise": list(limits), cap: list(limits.values())},
        schema={"enterprise": pl.Utf8, cap: pl.Float64},
    )
    return (
        limit_frame.join(sums, on="enterprise", how="left")
        .with_columns(pl.col(used).fill_null(0.0))
        .with_columns(
            used_pct=pl.col(used) / pl.col(cap) * 100,
            **{forecast: month_end_forecast(pl.col(used), through=as_of)},
            days_elapsed=pl.lit(elapsed),
            days_in_month=pl.lit(days_in_month),
        )
        .with_columns(
            forecast_pct=pl.col(forecast) / pl.col(cap) * 100,
            forecast_breach=pl.col(forecast) > pl.col(cap),
            breached=pl.col(used) > pl.col(cap),
        )
        .sort("enterprise")
    )
