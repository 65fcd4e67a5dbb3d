"""Roll-ups and evaluations, recomputed from the store (idempotent).

Every job reads what InfluxDB holds (``reads``), runs the same pure functions the
stream processor runs, and writes its points (``output``) with the same series and
times, so rerunning a period rewrites the same points. ``schedule`` runs them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from processing import output
from processing.config import Declared, ProcessingConfig
from processing.engine import Park, kpis, sensor_totals
from processing.kpis import Coefficients
from processing.muju import annualised, grade
from processing.quota import burn_down
from processing.reads import StoreReads
from smartpark import cems, schema
from smartpark.clock import Clock
from smartpark.limits import QUOTA_FIELD, budget_field
from smartpark.model import PARK_SCOPE
from smartpark.registry import Registry
from smartpark.store.base import Store

logger = logging.getLogger(__name__)

COMPLETE_PCT = 90.0
# Energy-use quotas burn non-renewable energy: PV and certified green power are deducted
# (发改运行[2022]1258号; Sichuan's 用能权 covers non-renewable energy only).


@dataclass(slots=True)
class JobStats:
    runs: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    points: Counter[str] = field(default_factory=Counter)


WRITE_BATCH_LINES = 10_000  # points per store write (InfluxDB advises 5,000-10,000)


class Jobs:
    """The roll-ups and evaluations of one park; each method is one idempotent job."""

    def __init__(
        self,
        *,
        registry: Registry,
        park_id: str,
        config: ProcessingConfig,
        coefficients: Coefficients,
        store: Store,
        clock: Clock,
        stale_after_s: int = 900,
    ) -> None:
        self.registry = registry
        self.park = Park.from_registry(
            registry, park_id, config, gas_reference_c=coefficients.gas_reference_c
        )
        self.config = config
        self.coefficients = coefficients
        self.store = store
        self.clock = clock
        self.zone = ZoneInfo(self.park.tz)
        self.stale_after_s = stale_after_s
        self.stats = JobStats()
        self.reads = StoreReads(store, self.park)

    def use_registry(self, registry: Registry) -> None:
        """Run the next jobs on ``registry`` (a reload; a job running now ends on the old)."""
        park = Park.from_registry(
            registry, self.park.id, self.config, gas_reference_c=self.coefficients.gas_reference_c
        )
        self.registry, self.park, self.reads = registry, park, StoreReads(self.store, park)

    @property
    def lookback_ms(self) -> int:
        return self.config.lookback_ms

    def write_points(
        self,
        job: str,
        lines: list[str],
        *,
        batch_lines: int = WRITE_BATCH_LINES,
        before_batch: Callable[[], object] | None = None,
    ) -> int:
        """Write ``lines`` (points of ``job``), counted per job; ``batch_lines`` at a
        time (a week's 1-minute roll-up of 100 meters in one body outlasted InfluxDB's
        write timeout, 500 "timeout"), each batch after ``before_batch`` (the catch-up
        beside a quiet live path waits for it to be idle: ``processing.emit.after_live``).
        A failed batch fails the job, which is rerun whole (the points are the same
        again)."""
        for i in range(0, len(lines), batch_lines):
            if before_batch is not None:
                before_batch()
            self.store.write("\n".join(lines[i : i + batch_lines]).encode())
        self.stats.points[job] += len(lines)
        return len(lines)

    # -- jobs -----------------------------------------------------------------------

    def rollup(self, window: str, start: datetime, end: datetime) -> int:
        """KPIs of every ``window`` starting in [start, end), from the stored readings; green
        power settled on each month's stored days (``StoreReads.days_grid``)."""
        lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        _frame, lines = self.windows(window, self.readings_for(lo, hi), lo, hi)
        return self.write_points(f"rollup_{window}", lines)

    def readings_for(self, lo: int, hi: int) -> pl.DataFrame:
        """The stored counter readings windows in [lo, hi) need: each meter's last one
        before the lookback too (gaps keep their delta) and, pro rata, its first after."""
        return self.reads.counters_from(lo - self.lookback_ms, hi, first_after=self.park.pro_rata)

    def windows(
        self,
        window: str,
        readings: pl.DataFrame,
        lo: int,
        hi: int,
        *,
        newest_ms: int | None = None,
        days_grid: pl.DataFrame | None = None,
        sensors: Collection[str] | None = None,
    ) -> tuple[pl.DataFrame, list[str]]:
        """The KPI rows of every ``window`` starting in [lo, hi) from ``readings``, and
        their points (KPIs and per-sensor use), not yet written. ``newest_ms``: the newest
        reading time known (the catch-up: the processor's watermark), else the store's.
        ``days_grid``: the stored days' grid import of [lo, hi)'s months read once for
        many calls (the catch-up's pieces of one batch), else read here. ``sensors``:
        only these meters' use points (the catch-up: a meter's use in a window depends on
        its own readings alone, so the others' stored points are already right)."""
        # the data's completeness: up to ``hi`` (month so far), or to the newest reading
        # (today so far, a backfill that ends today): the pro-rated declared amounts
        newest = self.reads.newest_counter_ms() if newest_ms is None else newest_ms
        complete_to = hi if newest is None else min(hi, newest // 60_000 * 60_000)
        if complete_to < hi:  # as the stream's open windows: complete minutes only
            readings = readings.filter(pl.col("ts") < complete_to)
        if window == "1mo":
            days_grid = None
        elif days_grid is None:
            days_grid = self.reads.days_grid(lo, complete_to)
        else:  # days that start before ``complete_to``, as the store read would give
            days_grid = days_grid.filter(pl.col("day") < complete_to)
        frame = kpis(readings, self.park, self.config, self.coefficients, window=window,
                     complete_to_ms=complete_to, days_grid=days_grid, span_ms=(lo, hi))  # fmt: skip
        own = readings
        if sensors is not None:
            own = readings.filter(pl.col("sensor").is_in(sorted(sensors)))
        use = sensor_totals(own, self.park, window=window, max_gap_ms=self.config.max_gap_s * 1000)
        use = use.filter((pl.col("window") >= lo) & (pl.col("window") < hi))
        lines = list(output.sensor_points(use, park=self.park.id, window=window)) + list(
            output.points(frame, park=self.park.id, window=window, tags=self.coefficients.tags())
        )
        return frame, lines

    def cems_hourly(self, start: datetime, end: datetime) -> int:
        """O2-corrected hourly means, validity and exceedances of every stack."""
        lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        stacks = {
            s.ref.sensor: stack
            for s in self.registry.sensors()
            if s.ref.park == self.park.id and (stack := cems.stack_of(s.spec)) is not None
        }
        enterprise = {s.ref.sensor: s.ref.enterprise for s in self.registry.sensors()}
        fields = list(cems.MINUTE_FIELDS)
        rows = []
        for sensor, values in self.reads.series("emissions", fields, lo, hi):
            rows += [(sensor, int(v[0]), *v[1:]) for v in values]
        if not rows:
            return 0
        minutes = pl.DataFrame(rows, schema=["sensor", "ts", *fields], orient="row")
        rules = cems.CemsRules(
            self.config.cems.o2_max_valid_pct, self.config.cems.min_valid_minutes
        )
        hours = cems.hourly(minutes, stacks, tz=self.park.tz, rules=rules)
        lines = list(output.cems_points(hours, park=self.park.id, enterprise=enterprise))
        return self.write_points("cems_hourly", lines)

    def completeness(self, day: date, *, until: datetime | None = None) -> pl.DataFrame:
        """Readings received / expected per sensor for a local day (with ``until``: the
        day so far, expected up to then); < 90 % is incomplete. Expected: the time / the
        sensor's declared reporting interval (its own ``interval_s`` or its kind's), so a
        15-minute utility meter expects 96 a day."""
        start = datetime.combine(day, datetime.min.time(), self.zone)
        lo, hi = int(start.timestamp() * 1000), int((start + timedelta(days=1)).timestamp() * 1000)
        if until is not None:
            hi = max(lo, min(hi, int(until.timestamp() * 1000)))
        counts: dict[str, int] = {}
        for kind in {s.ref.kind for s in self.registry.sensors() if s.ref.park == self.park.id}:
            first = next(iter(self.registry.kinds[kind].fields))
            for sensor, row in self.reads.per_sensor(kind, first, "count", lo, hi).items():
                counts[sensor] = int(row[1])
        rows = [
            (s.ref.enterprise, s.ref.sensor, counts.get(s.ref.sensor, 0),
             max(1, (hi - lo) // (self.registry.interval_s(s) * 1000)))
            for s in self.registry.sensors()
            if s.ref.park == self.park.id
        ]  # fmt: skip
        expected = pl.col("expected")
        frame = (
            pl.DataFrame(
                rows, schema=["enterprise", "sensor", "readings", "expected"], orient="row"
            )
            .with_columns(
                completeness_pct=pl.col("readings").clip(upper_bound=expected) / expected * 100
            )
            .with_columns(complete=pl.col("completeness_pct") >= COMPLETE_PCT)
        )
        self.write_points(
            "completeness", list(output.quality_points(frame, park=self.park.id, day_ms=lo))
        )
        return frame

    def stale_sensors(self) -> list[str]:
        """Sensors whose newest stored reading is older than ``stale_after_s`` (or none at all)."""
        now = self.clock.now_ms()
        newest: dict[str, int] = {}
        for kind in {s.ref.kind for s in self.registry.sensors() if s.ref.park == self.park.id}:
            first = next(iter(self.registry.kinds[kind].fields))
            since = now - 7 * 86_400_000
            for sensor, row in self.reads.per_sensor(kind, first, "last", since).items():
                newest[sensor] = int(row[0])
        stale = sorted(
            s.ref.sensor
            for s in self.registry.sensors()
            if s.ref.park == self.park.id
            and now - newest.get(s.ref.sensor, 0) > self.stale_after_s * 1000
        )
        if stale:
            logger.warning(
                "stale sensors park=%s count=%d: %s",
                self.park.id,
                len(stale),
                ", ".join(stale[:20]),
            )
        return stale

    def _month_daily(self, field: str, as_of: date) -> tuple[datetime, pl.DataFrame]:
        """The month of ``as_of`` up to it: its first moment and the stored daily KPI
        ``field`` per scope (the park's ``_park`` included) and local day, as ``used``."""
        first = datetime.combine(as_of.replace(day=1), datetime.min.time(), self.zone)
        end = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), self.zone)
        rows = [
            (scope, datetime.fromtimestamp(int(v[0]) / 1000, self.zone).date(), float(v[1]))
            for scope, values in self.reads.kpi_by_scope(field, window="1d", start=first, end=end)
            for v in values
            if v[1] is not None
        ]
        daily = pl.DataFrame(
            rows, schema={"enterprise": pl.Utf8, "day": pl.Date, "used": pl.Float64}, orient="row"
        )
        return first, daily

    def quota(self, as_of: date) -> pl.DataFrame:
        """Quota burn-down of the month of ``as_of`` from the stored daily KPIs."""
        first, daily = self._month_daily(QUOTA_FIELD, as_of)
        frame = burn_down(daily, self.config.quotas_tce_month, as_of=as_of)
        ts = int(first.timestamp() * 1000)
        tags = self.coefficients.tags()
        method = {"quota_total": QUOTA_FIELD} | {
            k: tags[k]
            for k in ("factor_set", "energy_basis", "gas_factor", "steam_factor",
                      "certificates_in_quota")
        }  # fmt: skip
        points = output.quota_points(frame, park=self.park.id, month_ms=ts, method=method)
        self.write_points("quota", list(points))
        return frame

    def carbon_budget(self, as_of: date) -> pl.DataFrame:
        """Carbon-budget burn-down (碳排放双控) of the month of ``as_of``, per enterprise
        and for the park, on the configured CO2 method, from the stored daily KPIs."""
        budgets = self.config.carbon_budgets
        if not budgets.t_month:
            return pl.DataFrame()
        first, daily = self._month_daily(budget_field(budgets.method), as_of)
        frame = burn_down(daily, budgets.t_month, as_of=as_of, unit="co2_t", limit="budget")
        c = self.coefficients
        method = {
            "co2_method": budgets.method,
            "co2_factor": c.grid_factor if budgets.method == "location" else c.residual_factor,
            "factor_set": c.factor_set,
        }
        ts = int(first.timestamp() * 1000)
        points = output.carbon_budget_points(frame, park=self.park.id, month_ms=ts, method=method)
        self.write_points("carbon_budget", list(points))
        return frame

    def _pollutant_t(self, start: datetime, end: datetime) -> dict[str, float]:
        """Per enterprise, the SO2 and NOx its stacks emitted in [start, end), in t, from
        the stored hourly masses (an enterprise without stacks: none)."""
        lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        enterprise = {s.ref.sensor: s.ref.enterprise for s in self.registry.sensors()
                      if s.ref.park == self.park.id}  # fmt: skip
        out: dict[str, float] = {}
        hourly = schema.CEMS_HOURLY
        for mass in hourly.names("so2_kg", "nox_kg"):
            for sensor, row in self.reads.per_sensor(hourly.name, mass, "sum", lo, hi).items():
                if sensor in enterprise and row[1] is not None:
                    out[enterprise[sensor]] = out.get(enterprise[sensor], 0.0) + row[1] / 1000
        return out

    def muju(self, year: int, *, through_month: int | None = None) -> pl.DataFrame:
        """The mu-average evaluation of ``year`` on that year's figures: its energy against
        its declared economics (never year-to-date energy against a whole year's revenue).
        With ``through_month`` an interim view: January to that month's energy against the
        monthly declarations of the same months (enterprises without all of them are left
        out), its amounts annualised (x 12 / months, ``annualised_from_months``) to compare
        with the annual benchmarks. Nothing without a ``muju`` section."""
        if self.config.muju is None:
            return pl.DataFrame()
        start = datetime(year, 1, 1, tzinfo=self.zone)
        if through_month is None:
            end, period = datetime(year + 1, 1, 1, tzinfo=self.zone), "year"
            evaluated = f"{year}"
        else:
            end = (start + timedelta(days=31 * through_month)).replace(day=1)
            period = f"01-{through_month:02d}"
            evaluated = f"{year}-01..{year}-{through_month:02d}"
        basis = f"energy_{self.config.muju.energy_basis}_tce"  # 等价值 by default
        energy = {
            scope: float(values[0][1])
            for scope, values in self.reads.kpi_by_scope(
                basis, window="1d", start=start, end=end, aggregate="sum"
            )
            if values
        }
        park = self.registry.parks[self.park.id]
        land = {e.id: e.land_mu for e in park.enterprises}
        staff = {e.id: e.employees for e in park.enterprises}
        figures = ("revenue_cny", "tax_cny", "added_value_cny", "rd_cny", "local_score",
                   "pollutant_t")  # fmt: skip
        economics: dict[str, dict[str, Any]] = {}
        declared = [d for d in self.config.declared_in([year]) if d.enterprise != PARK_SCOPE]
        if through_month is None:
            for d in declared:
                if d.year == year and d.month is None:
                    economics[d.enterprise] = {f: getattr(d, f) for f in figures} | {"veto": d.veto}
        else:
            months: dict[str, list[Declared]] = {}
            for d in declared:
                if d.year == year and d.month is not None and d.month <= through_month:
                    months.setdefault(d.enterprise, []).append(d)
            for enterprise, ds in months.items():
                if sorted(d.month or 0 for d in ds) != list(range(1, through_month + 1)):
                    continue  # not comparable: some month of the period is not declared
                economics[enterprise] = {
                    f: None if any(getattr(d, f) is None for d in ds)
                    else sum(getattr(d, f) for d in ds) / (len(ds) if f == "local_score" else 1)
                    for f in figures
                } | {"veto": any(d.veto for d in ds)}  # fmt: skip
        measured = self._pollutant_t(start, end)
        rows = [
            {"enterprise": e, **figs, "land_mu": land.get(e), "employees": staff.get(e),
             "energy_tce": energy.get(e),
             "pollutant_t": measured.get(e, 0.0) if figs["pollutant_t"] is None
             else figs["pollutant_t"]}
            for e, figs in economics.items()
        ]  # fmt: skip
        if not rows:
            return pl.DataFrame()
        frame = pl.DataFrame(rows)
        if through_month is not None:  # against annual benchmarks: annualised, and said
            frame = annualised(frame, months=through_month)
        graded = grade(frame, self.config.muju.rules())
        ts = int(start.timestamp() * 1000)
        method = {  # the per-tce indicators' energy: 等价值 by default
            "energy_basis": f"electricity_{self.config.muju.energy_basis}",
            "factor_set": self.coefficients.factor_set,
        }
        points = output.muju_points(
            graded,
            park=self.park.id,
            year_ms=ts,
            period=period,
            evaluated=evaluated,
            method=method,
        )
        self.write_points("muju", list(points))
        return graded
