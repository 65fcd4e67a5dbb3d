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

``allocations`` puts all of it on a computation's windows (and the feedstock shares);
``park_declared`` gives the park's rows the park's own declared added value.
"""

from __future__ import annotations

import calendar
from typing import TYPE_CHECKING

import polars as pl

from processing.config import Declared, GreenPower, ProcessingConfig, PvCertificatesSold, monthly_in
from processing.kpis import FEEDSTOCK_COLUMNS
from processing.meters import window_ends, window_starts
from smartpark.model import PARK_SCOPE

if TYPE_CHECKING:
    from processing.engine import Park


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


def allocations(
    frame: pl.DataFrame,
    config: ProcessingConfig,
    park: Park,
    *,
    window: str,
    complete_to_ms: int | None = None,
    days_grid: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Add ``green_kwh``, ``green_unused_kwh``, ``certificates_kwh``, ``pv_sold_kwh`` and,
    for day and month windows, ``added_value_cny``.

    Every window lies inside one local month, and gets the part of each declared amount
    its covered time is of the amount's period (``allocate.coverage``: the window up to
    ``complete_to_ms``, the data's completeness; None: whole). Declared added value goes
    to days: a month's own declaration / its days, else the year's / days in the year; a
    month window gets the sum of its days; a year's figure minus its declared months is
    spread over the undeclared days (see :func:`_year_rest`). Windows shorter than a day
    get no added value: a day's share of a year must not be divided further by production
    hours. Green power and certificates bought are settled per month and allocated by
    grid import (``allocate.settle``; ``days_grid``: the grid import of stored days, per
    enterprise, ``day`` and ``month_start``, for windows shorter than a month); PV
    certificates sold are spread over the month by time.
    """
    keys = _calendar(frame.select("enterprise", "window").unique(), park, window=window)
    keys = coverage(keys, complete_to_ms=complete_to_ms)
    ym = {"enterprise": pl.Utf8, "year": pl.Int32, "month": pl.Int8}
    # the months' own entries, or the standing ones (``month: every``) as theirs
    months = list(keys.select("year", "month").unique().iter_rows())
    monthly_kwh: dict[str, list[GreenPower] | list[PvCertificatesSold]] = {
        "contract_kwh": monthly_in([g for g in config.green_power if g.kind == "traded"], months),
        "certificates_kwh": monthly_in(
            [g for g in config.green_power if g.kind == "certificates"], months
        ),
        "pv_sold_kwh": monthly_in(list(config.pv_certificates_sold), months),
    }
    for column, entries in monthly_kwh.items():
        per_month = (
            pl.DataFrame(
                [(g.enterprise, int(g.month[:4]), int(g.month[5:]), g.kwh) for g in entries],
                schema={**ym, "kwh": pl.Float64},
                orient="row",
            )
            .group_by("enterprise", "year", "month")
            .agg(pl.col("kwh").sum())
        )
        # green power and certificates stay the month's (settled per month, allocated by
        # grid import); PV certificates sold spread over the month by time
        share = pl.col("kwh") * (
            pl.col("covered_ms") / pl.col("month_ms") if column == "pv_sold_kwh" else 1
        )
        keys = (
            keys.join(per_month, on=["enterprise", "year", "month"], how="left")
            .with_columns(share.fill_null(0.0).alias(column))
            .drop("kwh")
        )
    keys = _added_value(keys, config.declared_in(keys["year"].unique()), window=window)
    out = frame.join(
        keys.select("enterprise", "window", *monthly_kwh, "added_value_cny", "month_start",
                    "month_ms", "covered_ms", "month_covered_ms"),
        on=["enterprise", "window"],
        how="left",
    )  # fmt: skip
    day_of = window_starts(out["window"], window="1d", tz=park.tz)
    grid = month_grid(out, days_grid, window=window, day_of=day_of)
    out = out.join(grid, on=["enterprise", "month_start"], how="left")
    out = settle(out, contract="contract_kwh", used="green_kwh", unused="green_unused_kwh")
    out = settle(out, contract="certificates_kwh", used="certificates_kwh")
    out = out.drop("contract_kwh", "month_start", "month_ms", "covered_ms", "month_covered_ms",
                   "month_grid_kwh")  # fmt: skip
    if config.feedstock:  # otherwise energy_carbon takes them as 0
        feed: dict[str, dict[str, float]] = {column: {} for column in FEEDSTOCK_COLUMNS}
        for enterprise, carriers in config.feedstock.items():
            for column, value in carriers.items():
                feed[column][enterprise] = value
        fraction = {
            column: pl.col("enterprise").replace_strict(
                feed[column], default=0.0, return_dtype=pl.Float64
            )
            for column in FEEDSTOCK_COLUMNS
        }
        out = out.with_columns(
            [
                (pl.col(column) * fraction[column]).alias(f"feedstock_{column}")
                for column in FEEDSTOCK_COLUMNS
                if column in out.columns
            ]
        )
    # PV certificates sold count up to the enterprise's own PV
    return out.with_columns(pv_sold_kwh=pl.min_horizontal(pl.col("pv_sold_kwh"), pl.col("pv_kwh")))


def _calendar(keys: pl.DataFrame, park: Park, *, window: str) -> pl.DataFrame:
    """``keys`` (enterprise, window) with each window's local year and month, the
    month's start, length in ms and days, the window's length and the year's days."""
    month_start = window_starts(keys["window"], window="1mo", tz=park.tz)
    months = pl.DataFrame({"month_start": month_start.unique()})
    local = pl.from_epoch("month_start", time_unit="ms").dt.replace_time_zone("UTC")
    local = local.dt.convert_time_zone(park.tz)
    months = months.with_columns(
        year=local.dt.year(),
        month=local.dt.month(),
        month_ms=window_ends(months["month_start"], window="1mo", tz=park.tz)
        - months["month_start"],
        days_in_month=local.dt.month_end().dt.day(),
        days_in_year=pl.when(local.dt.is_leap_year()).then(366).otherwise(365),
    )
    keys = keys.with_columns(
        month_start=month_start,
        window_ms=window_ends(keys["window"], window=window, tz=park.tz) - keys["window"],
    ).join(months, on="month_start")
    return keys


def _added_value(keys: pl.DataFrame, declared: list[Declared], *, window: str) -> pl.DataFrame:
    """``keys`` (from :func:`_calendar`) with ``added_value_cny``: declared figures
    allocated to day and month windows, none to shorter ones (see :func:`allocations`)."""
    ym = {"enterprise": pl.Utf8, "year": pl.Int32, "month": pl.Int8}
    if window in ("1d", "1mo"):
        declared = [d for d in declared if d.added_value_cny is not None]
        monthly = (
            pl.DataFrame(
                [(d.enterprise, d.year, d.month, d.added_value_cny) for d in declared if d.month],
                schema={**ym, "value_month": pl.Float64},
                orient="row",
            )
            .group_by("enterprise", "year", "month")
            .agg(pl.col("value_month").sum())
        )
        yearly = _year_rest(declared)
        days = pl.lit(1) if window == "1d" else pl.col("days_in_month")
        # the part of the window the data is complete to (whole without ``covered_ms``)
        covered = pl.col("covered_ms") / pl.col("window_ms") if "covered_ms" in keys.columns else 1
        keys = (
            keys.join(monthly, on=["enterprise", "year", "month"], how="left")
            .join(yearly, on=["enterprise", "year"], how="left")
            .with_columns(
                added_value_cny=pl.coalesce(
                    pl.col("value_month") * days / pl.col("days_in_month"),
                    pl.col("value_per_other_day") * days,
                )
                * covered,
            )
        )
    else:
        keys = keys.with_columns(added_value_cny=pl.lit(None, dtype=pl.Float64))
    return keys


def park_declared(
    frame: pl.DataFrame,
    declared: list[Declared],
    park: Park,
    *,
    window: str,
    complete_to_ms: int | None = None,
) -> pl.DataFrame:
    """The park's rows take the park's own declared added value (``enterprise: _park``:
    a statistics office's figure for the whole park, enterprises without meters
    included) where it declares one, allocated as an enterprise's is; elsewhere they keep
    the sum of their enterprises'."""
    own = [d for d in declared if d.enterprise == PARK_SCOPE and d.added_value_cny is not None]
    if not own or window not in ("1d", "1mo"):
        return frame
    rows = frame.filter(pl.col("enterprise") == PARK_SCOPE).select("enterprise", "window")
    keys = coverage(_calendar(rows, park, window=window), complete_to_ms=complete_to_ms)
    value = _added_value(keys, own, window=window)
    value = value.select("enterprise", "window", pl.col("added_value_cny").alias("declared"))
    return (
        frame.join(value, on=["enterprise", "window"], how="left")
        .with_columns(added_value_cny=pl.coalesce("declared", "added_value_cny"))
        .drop("declared")
    )


def _year_rest(declared: list[Declared]) -> pl.DataFrame:
    """Per enterprise and year, the added value per day of the days no monthly figure
    covers: a month's own declaration replaces that month's share of the year, and the
    rest of the year's figure is spread over the remaining days (never counted twice)."""
    years: dict[tuple[str, int], float] = {}
    months: dict[tuple[str, int], dict[int, float]] = {}
    for d in declared:
        if d.added_value_cny is None or not isinstance(d.year, int):
            continue  # standing figures (``year: every``) come as each year's (declared_in)
        key = (d.enterprise, d.year)
        if d.month is None:
            years[key] = years.get(key, 0.0) + d.added_value_cny
        else:
            months.setdefault(key, {})[d.month] = d.added_value_cny
    rows = []
    for (enterprise, year), value in years.items():
        covered = months.get((enterprise, year), {})
        covered_days = sum(calendar.monthrange(year, m)[1] for m in covered)
        rest_days = (366 if calendar.isleap(year) else 365) - covered_days
        rest = max(0.0, value - sum(covered.values()))
        rows.append((enterprise, year, rest / rest_days if rest_days else None))
    return pl.DataFrame(
        rows,
        schema={"enterprise": pl.Utf8, "year": pl.Int32, "value_per_other_day": pl.Float64},
        orient="row",
    )
