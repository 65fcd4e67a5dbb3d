"""The KPI engine: counter readings to enterprise and park KPIs per window (pure polars).

    readings (sensor, ts, value of the sensor's carrier counter)
      -> use per reading (meters.counter_use: multiplier, rollover, resets, gaps)
      -> totals per enterprise, window and carrier column (grid_kwh, pv_kwh, gas_m3, ...)
      -> + contracted green power and declared added value allocated to the window
      -> + the park's row (sums of its enterprises)
      -> KPIs with their coefficients and methods (kpis.energy_carbon), against targets

The streaming processor and the scheduled roll-ups call the same functions, so a
roll-up of stored readings equals what was streamed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from processing.allocate import allocations, park_declared
from processing.config import (
    ProcessingConfig,
)
from processing.kpis import (
    FEEDSTOCK_COLUMNS,
    Coefficients,
    against_targets,
    at_previous_year_prices,
    carbon_efficiency,
    energy_carbon,
)
from processing.meters import counter_use, window_ends, windowed
from processing.products import against_product_limits
from smartpark.carriers import FUEL_COLUMNS
from smartpark.model import PARK_SCOPE, rated_max_per_ms
from smartpark.products import ProductSpec
from smartpark.registry import Registry, common_unit

COLUMNS = ("grid_kwh", "pv_kwh", "gas_m3", "steam_kg", *FUEL_COLUMNS, "output")


@dataclass(frozen=True, slots=True)
class Park:
    """One park's sensors as the engine needs them."""

    id: str
    tz: str
    targets: Mapping[str, float]
    meters: pl.DataFrame  # sensor, enterprise, kind, field, column, scale, multiplier,
    # rollover, max_per_ms
    variants: Mapping[str, str] = field(default_factory=dict)  # target -> proven | grid_implied
    industry: Mapping[str, str] = field(default_factory=dict)  # enterprise -> industry
    # enterprise -> the unit of its output; None when its production sensors differ
    output_units: Mapping[str, str | None] = field(default_factory=dict)
    pro_rata: bool = False  # interval use spread over windows by time (methods.interval_boundary)
    products: Mapping[str, ProductSpec] = field(default_factory=dict)  # enterprise -> product

    @property
    def output_unit(self) -> str | None:
        """The park's output unit: the one unit every producing enterprise uses, or None
        (pieces and tonnes do not add up)."""
        return common_unit(self.output_units.values())

    @classmethod
    def from_registry(
        cls,
        registry: Registry,
        park_id: str,
        config: ProcessingConfig,
        *,
        gas_reference_c: int | None = None,
    ) -> Park:
        """The park's meters; volumes of a meter whose ``volume_basis_c`` differs from
        ``gas_reference_c`` (a measured NCV's, ``Coefficients.gas_reference_c``) are
        converted to it (m3 at 20 C x 273.15 / 293.15 = m3 at 0 C, the same gas)."""
        park = registry.parks[park_id]
        carriers = config.all_carriers()
        rows = [
            {
                "sensor": s.ref.sensor,
                "enterprise": s.ref.enterprise,
                "kind": s.ref.kind,
                "field": carriers[s.ref.kind].field,
                "column": carriers[s.ref.kind].column,
                "scale": carriers[s.ref.kind].scale
                * volume_to(s.spec.volume_basis_c, gas_reference_c),
                "multiplier": s.spec.multiplier,
                "rollover": s.spec.modulus(),  # what a wrap adds
                "max_per_ms": rated_max_per_ms(
                    s.spec.rated_per_h,
                    multiplier=s.spec.multiplier,
                    tolerance=config.meters.tolerance,
                ),
            }
            for s in registry.sensors()
            if s.ref.park == park_id and s.ref.kind in carriers
        ]
        schema = {
            "sensor": pl.Utf8,
            "enterprise": pl.Utf8,
            "kind": pl.Utf8,
            "field": pl.Utf8,
            "column": pl.Utf8,
            "scale": pl.Float64,
            "multiplier": pl.Float64,
            "rollover": pl.Float64,
            "max_per_ms": pl.Float64,
        }
        return cls(
            park.id,
            park.timezone,
            dict(park.targets),
            pl.DataFrame(rows, schema=schema),
            dict(park.target_variants),
            {e.id: e.industry for e in park.enterprises},
            registry.output_units(park_id),
            config.methods.interval_boundary == "pro_rata",
            {e.id: e.product for e in park.enterprises if e.product is not None},
        )


def _use(readings: pl.DataFrame, park: Park, *, window: str, max_gap_ms: int) -> pl.DataFrame:
    """Interval use per sensor and window (``meters.windowed``), by the park's boundary rule."""
    use = counter_use(
        readings,
        park.meters.select("sensor", "multiplier", "rollover", "max_per_ms"),
        max_gap_ms=max_gap_ms,
    )
    return windowed(use, window=window, tz=park.tz, pro_rata=park.pro_rata)


def totals(readings: pl.DataFrame, park: Park, *, window: str, max_gap_ms: int) -> pl.DataFrame:
    """Per enterprise and window: carrier totals, readings counted, data-quality flags OR-ed."""
    use = _use(readings, park, window=window, max_gap_ms=max_gap_ms)
    # The Enum's codes follow park.meters' rows: look each reading's enterprise, column
    # and scale up by code (numpy gathers), then one group-by: no join, no pivot.
    meters = park.meters
    enterprises = sorted(set(meters["enterprise"]))
    ent_code = np.array([enterprises.index(e) for e in meters["enterprise"]], dtype=np.uint32)
    col_code = np.array([COLUMNS.index(c) for c in meters["column"]], dtype=np.uint8)
    codes = use["sensor"].to_physical().to_numpy()
    scaled = use["use"].to_numpy() * meters["scale"].to_numpy()[codes]
    column = col_code[codes]
    # One int64 key per (window, enterprise): window starts are whole minutes everywhere.
    starts = use["window"].to_numpy()
    key = (starts // 60_000) * len(enterprises) + ent_code[codes]
    frame = pl.DataFrame(
        {
            "key": key,
            **{c: np.where(column == i, scaled, 0.0) for i, c in enumerate(COLUMNS)},
            "flag": use["flag"],
            "reading": use["reading"],
        }
    )
    out = frame.group_by("key").agg(
        *[pl.col(c).sum() for c in COLUMNS],
        readings=pl.col("reading").sum(),
        flags=pl.col("flag").bitwise_or(),
    )
    keys = out["key"].to_numpy()
    names = np.array(enterprises, dtype=object)
    return out.with_columns(
        enterprise=pl.Series(names[keys % len(enterprises)], dtype=pl.Utf8),
        window=pl.Series((keys // len(enterprises)) * 60_000, dtype=pl.Int64),
    ).drop("key")


def sensor_totals(
    readings: pl.DataFrame, park: Park, *, window: str, max_gap_ms: int
) -> pl.DataFrame:
    """Per sensor and window: its use in physical units (after multiplier), readings, flags."""
    use = _use(readings, park, window=window, max_gap_ms=max_gap_ms)
    out = use.group_by("sensor", "window").agg(
        pl.col("use").sum(), readings=pl.col("reading").sum(), flags=pl.col("flag").bitwise_or()
    )
    meta = park.meters.select("sensor", "enterprise", "kind", "column")
    return out.with_columns(pl.col("sensor").cast(pl.Utf8)).join(meta, on="sensor")


def with_park(frame: pl.DataFrame, *, output_unit: str | None = None) -> pl.DataFrame:
    """Append the park's rows: the sums of its enterprises' totals per window. Output is
    summed only when every enterprise counts it in the same ``output_unit`` (None: the
    units differ or are not known, and the park has no output)."""
    sums = [
        c
        for c in (
            *COLUMNS,
            "green_kwh",
            "green_unused_kwh",
            "certificates_kwh",
            "pv_sold_kwh",
            *(f"feedstock_{c}" for c in FEEDSTOCK_COLUMNS),
            "added_value_cny",
            "readings",
        )
        if c in frame.columns
    ]
    park = frame.group_by("window").agg(
        *[pl.col(c).sum() for c in sums],
        flags=pl.col("flags").bitwise_or(),
    )
    # A park's added value is known only if every enterprise's is.
    if "added_value_cny" in frame.columns:
        known = frame.group_by("window").agg(
            all_known=pl.col("added_value_cny").is_not_null().all()
        )
        park = (
            park.join(known, on="window")
            .with_columns(
                added_value_cny=pl.when(pl.col("all_known")).then(pl.col("added_value_cny"))
            )
            .drop("all_known")
        )
    if "output" in park.columns and output_unit is None:
        park = park.with_columns(output=pl.lit(None, dtype=pl.Float64))
    park = park.with_columns(enterprise=pl.lit(PARK_SCOPE))
    return pl.concat([frame, park.select(frame.columns)], how="vertical")


def kpis(
    readings: pl.DataFrame,
    park: Park,
    config: ProcessingConfig,
    coefficients: Coefficients,
    *,
    window: str,
    complete_to_ms: int | None = None,
    days_grid: pl.DataFrame | None = None,
    span_ms: tuple[int, int] | None = None,
) -> pl.DataFrame:
    """Every KPI of every enterprise and the park, per ``window`` (1m, 15m, 1h, 1d, 1mo).

    ``complete_to_ms``: the data is complete up to here (a window open or partly
    covered gets the pro-rated part of its declared amounts; None: every window is
    whole); ``days_grid``: the stored days' grid import of the months touched (green
    power is settled per month; see ``allocations``); ``span_ms``: only the windows
    starting in [lo, hi) (None: every window the readings touch). A caller whose
    readings reach outside the windows it computes (a lookback before them, pro rata
    a reading after them) must pass it: the part of a day before or after is not that
    day, and it would stand in for the stored whole day in the month's grid import
    (``allocate.month_grid``), which would give green power twice the share. Rows come
    in no particular order (sorting millions of rows costs more than the KPIs); sort
    by ``scope, window`` where order matters.
    """
    frame = totals(readings, park, window=window, max_gap_ms=config.max_gap_s * 1000)
    if span_ms is not None:
        frame = frame.filter(pl.col("window").is_between(*span_ms, closed="left"))
    return of_totals(frame, park, config, coefficients, window=window,
                     complete_to_ms=complete_to_ms, days_grid=days_grid)  # fmt: skip


def of_totals(
    frame: pl.DataFrame,
    park: Park,
    config: ProcessingConfig,
    coefficients: Coefficients,
    *,
    window: str,
    complete_to_ms: int | None = None,
    days_grid: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``kpis`` from the enterprises' window totals (``totals``: a month to date is its
    stored days' totals and today's). Every row says up to when its window is complete
    (``complete_to_ms``) and whether it is still ``provisional`` (complete before its end)."""
    mixed = [e for e, unit in park.output_units.items() if unit is None]
    if mixed and "output" in frame.columns:  # an enterprise's t and pieces do not add up
        frame = frame.with_columns(
            output=pl.when(pl.col("enterprise").is_in(mixed)).then(None).otherwise("output")
        )
    allocated = allocations(
        frame, config, park, window=window, complete_to_ms=complete_to_ms, days_grid=days_grid
    )
    frame = with_park(allocated, output_unit=park.output_unit)
    frame = park_declared(
        frame, config.declared_in(_local_years(frame["window"], park.tz).unique()), park,
        window=window, complete_to_ms=complete_to_ms,
    )  # fmt: skip
    out = energy_carbon(frame.rename({"enterprise": "scope"}), coefficients)
    if out.height == 0:
        return out
    if window in ("1d", "1mo"):  # only they carry added value
        out = carbon_efficiency(
            out, industry=park.industry,
            average_t_per_10k_cny=config.carbon_efficiency.industry_average_t_per_10k_cny,
        )  # fmt: skip
        out = at_previous_year_prices(
            out, years=_local_years(out["window"], park.tz),
            price_index=config.added_value_price_index,
        )  # fmt: skip
    out = against_product_limits(out, park.products)  # 单位产品能耗 against its levels
    park_rows = out.filter(pl.col("scope") == PARK_SCOPE)
    years = _local_years(park_rows["window"], park.tz)
    park_rows = against_targets(park_rows, park.targets, years=years, variants=park.variants)
    rest = out.filter(pl.col("scope") != PARK_SCOPE)
    out = pl.concat([rest, park_rows], how="diagonal_relaxed")  # in no particular order
    end = window_ends(out["window"], window=window, tz=park.tz)
    to = end if complete_to_ms is None else end.clip(upper_bound=complete_to_ms)
    return out.with_columns(complete_to_ms=to, provisional=to < end)


def _local_years(windows: pl.Series, tz: str) -> pl.Series:
    """Each window start's year in the park's time zone."""
    local = pl.from_epoch(windows, time_unit="ms").dt.replace_time_zone("UTC")
    return local.dt.convert_time_zone(tz).dt.year()


def volume_to(basis_c: int | None, reference_c: int | None) -> float:
    """What one m3 at ``basis_c`` is at ``reference_c`` (ideal gas, same pressure); 1
    when either is not stated."""
    if basis_c is None or reference_c is None:
        return 1.0
    return (273.15 + reference_c) / (273.15 + basis_c)
