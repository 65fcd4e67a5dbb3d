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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from processing.config import ProcessingConfig, day_share
from processing.kpis import Coefficients, against_targets, energy_carbon
from processing.meters import counter_use, window_end, window_starts
from smartpark.registry import Registry

PARK_SCOPE = "_park"
COLUMNS = ("grid_kwh", "pv_kwh", "gas_m3", "steam_kg", "output")


@dataclass(frozen=True, slots=True)
class Park:
    """One park's sensors as the engine needs them."""

    id: str
    tz: str
    targets: Mapping[str, float]
    meters: pl.DataFrame  # sensor, enterprise, kind, field, column, scale, multiplier, rollover

    @classmethod
    def from_registry(cls, registry: Registry, park_id: str, config: ProcessingConfig) -> Park:
        park = registry.parks[park_id]
        carriers = config.all_carriers()
        rows = [
            {
                "sensor": s.ref.sensor,
                "enterprise": s.ref.enterprise,
                "kind": s.ref.kind,
                "field": carriers[s.ref.kind].field,
                "column": carriers[s.ref.kind].column,
                "scale": carriers[s.ref.kind].scale,
                "multiplier": s.spec.multiplier,
                "rollover": s.spec.rollover,
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
        }
        return cls(park.id, park.timezone, dict(park.targets), pl.DataFrame(rows, schema=schema))


def totals(readings: pl.DataFrame, park: Park, *, window: str, max_gap_ms: int) -> pl.DataFrame:
    """Per enterprise and window: carrier totals, readings counted, data-quality flags OR-ed."""
    use = counter_use(
        readings, park.meters.select("sensor", "multiplier", "rollover"), max_gap_ms=max_gap_ms
    )
    meta = park.meters.select("sensor", "enterprise", "column", "scale").with_columns(
        pl.col("sensor").cast(use["sensor"].dtype)
    )
    use = use.with_columns(window=window_starts(use["ts"], window=window, tz=park.tz))
    # Reduce to sensors x windows first (integer keys), then bring in the enterprise.
    per_sensor = use.group_by("sensor", "window").agg(
        pl.col("use").sum(), readings=pl.len(), flags=pl.col("flag").bitwise_or()
    )
    frame = per_sensor.join(meta, on="sensor").with_columns(use=pl.col("use") * pl.col("scale"))
    per_column = frame.group_by("enterprise", "window", "column").agg(pl.col("use").sum())
    wide = per_column.pivot(on="column", index=["enterprise", "window"], values="use")
    quality = frame.group_by("enterprise", "window").agg(
        pl.col("readings").sum(), flags=pl.col("flags").bitwise_or()
    )
    wide = wide.with_columns(
        [pl.lit(0.0).alias(c) for c in COLUMNS if c not in wide.columns]
    ).with_columns([pl.col(c).fill_null(0.0) for c in COLUMNS])
    return wide.join(quality, on=["enterprise", "window"]).sort("enterprise", "window")


def _window_days(start_ms: int, end_ms: int, tz: str) -> list[tuple[datetime, float]]:
    """The local days a window covers, with the fraction of each day inside it."""
    zone = ZoneInfo(tz)
    start = datetime.fromtimestamp(start_ms / 1000, UTC).astimezone(zone)
    end = datetime.fromtimestamp(end_ms / 1000, UTC).astimezone(zone)
    out = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        nxt = day + timedelta(days=1)
        overlap = (min(end, nxt) - max(start, day)).total_seconds() / 86_400
        out.append((day, overlap))
        day = nxt
    return out


def allocations(
    frame: pl.DataFrame, config: ProcessingConfig, park: Park, *, window: str
) -> pl.DataFrame:
    """Add green_kwh (contract volume by time share) and, for day and longer windows,
    added_value_cny (declared year or month by day share; never for shorter windows)."""
    keys = frame.select("enterprise", "window").unique()
    ends = keys.with_columns(end=window_end(pl.col("window"), window=window, tz=park.tz))
    rows = []
    for enterprise, start, end in ends.iter_rows():
        days = _window_days(start, end, park.tz)
        green = sum(
            day_share(g, d.date()) * share * g.kwh
            for g in config.green_power
            if g.enterprise == enterprise
            for d, share in days
        )
        value = None
        if window in ("1d", "1mo"):
            declared = [
                d for d in config.declared if d.enterprise == enterprise and d.added_value_cny
            ]
            if declared:
                # A month's own declaration wins over the year's for that month.
                value = 0.0
                for day, share in days:
                    monthly = [d for d in declared if d.month == day.month and d.year == day.year]
                    for item in monthly or [d for d in declared if d.month is None]:
                        value += day_share(item, day.date()) * share * (item.added_value_cny or 0)
        rows.append((enterprise, start, green, value))
    alloc = pl.DataFrame(
        rows,
        schema={
            "enterprise": pl.Utf8,
            "window": pl.Int64,
            "green_kwh": pl.Float64,
            "added_value_cny": pl.Float64,
        },
        orient="row",
    )
    return frame.join(alloc, on=["enterprise", "window"], how="left")


def with_park(frame: pl.DataFrame) -> pl.DataFrame:
    """Append the park's rows: the sums of its enterprises' totals per window."""
    sums = [c for c in (*COLUMNS, "green_kwh", "added_value_cny", "readings") if c in frame.columns]
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
    park = park.with_columns(enterprise=pl.lit(PARK_SCOPE))
    return pl.concat([frame, park.select(frame.columns)], how="vertical")


def kpis(
    readings: pl.DataFrame,
    park: Park,
    config: ProcessingConfig,
    coefficients: Coefficients,
    *,
    window: str,
) -> pl.DataFrame:
    """Every KPI of every enterprise and the park, per ``window`` (1m, 15m, 1h, 1d, 1mo)."""
    frame = totals(readings, park, window=window, max_gap_ms=config.max_gap_s * 1000)
    frame = with_park(allocations(frame, config, park, window=window))
    out = energy_carbon(frame.rename({"enterprise": "scope"}), coefficients)
    if out.height == 0:
        return out
    year = datetime.fromtimestamp(int(out["window"].min()) / 1000, UTC).year  # type: ignore[arg-type]
    park_rows = against_targets(out.filter(pl.col("scope") == PARK_SCOPE), park.targets, year=year)
    rest = out.filter(pl.col("scope") != PARK_SCOPE)
    return pl.concat([rest, park_rows], how="diagonal_relaxed").sort("scope", "window")
