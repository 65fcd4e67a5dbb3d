"""Scheduled roll-ups and evaluations, recomputed from the store (idempotent).

Every job reads what InfluxDB holds, runs the same pure functions the stream
processor runs, and writes its points with the same series and times, so rerunning
a period rewrites the same points. The schedule (APScheduler, in the park's time
zone) and its guarantees:

- hourly at :05  the previous hour's and today's KPIs (1h, 1d) and CEMS hourly means
- daily at 00:15 yesterday (1d), the month so far (1mo), completeness per sensor,
                 quota burn-down
- monthly, 1st at 01:00  last month (1mo) and the mu-average evaluation
- every 5 min    stale sensors

A missed run (the process was down) still runs once when it can (coalesced, one
hour of grace); runs of one job never overlap. A job that fails is logged, counted
and retried with back-off (1, 2, 4 ... 30 minutes), never silently skipped.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from processing import output
from processing.config import ProcessingConfig
from processing.engine import Park, kpis, sensor_totals
from processing.kpis import Coefficients
from processing.muju import grade
from processing.quota import burn_down
from smartpark import cems
from smartpark.clock import Clock
from smartpark.model import PARK_SCOPE
from smartpark.registry import Registry
from smartpark.store.base import Store
from smartpark.store.influxql import Select
from smartpark.store.lineprotocol import encode_point

logger = logging.getLogger(__name__)

COMPLETE_PCT = 90.0


@dataclass(slots=True)
class JobStats:
    runs: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    points: Counter[str] = field(default_factory=Counter)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


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
        expected_interval_s: int = 60,
        stale_after_s: int = 900,
    ) -> None:
        self.registry = registry
        self.park = Park.from_registry(registry, park_id, config)
        self.config = config
        self.coefficients = coefficients
        self.store = store
        self.clock = clock
        self.zone = ZoneInfo(self.park.tz)
        self.expected_interval_s = expected_interval_s
        self.stale_after_s = stale_after_s
        self.stats = JobStats()
        self._lookback_ms = max(config.max_gap_s * 1000, 900_000)

    # -- reading the store ------------------------------------------------------------

    def _series(
        self, kind: str, fields: list[str], lo_ms: int, hi_ms: int
    ) -> list[tuple[str, list[list[Any]]]]:
        query = Select(
            kind,
            fields,
            tags={"park": self.park.id},
            start=_utc(lo_ms),
            end=_utc(hi_ms),
            group_by_tags=["sensor"],
        )
        return [(s.tags.get("sensor", ""), s.values) for s in self.store.query(query.to_influxql())]

    def counter_readings(self, lo_ms: int, hi_ms: int) -> pl.DataFrame:
        rows: list[tuple[str, int, float]] = []
        for kind, fld in self.park.meters.select("kind", "field").unique().iter_rows():
            for sensor, values in self._series(kind, [fld], lo_ms, hi_ms):
                rows += [(sensor, int(v[0]), float(v[1])) for v in values if v[1] is not None]
        return pl.DataFrame(
            rows, schema={"sensor": pl.Utf8, "ts": pl.Int64, "value": pl.Float64}, orient="row"
        )

    def _write(self, job: str, lines: list[str]) -> int:
        if lines:
            self.store.write("\n".join(lines).encode())
        self.stats.points[job] += len(lines)
        return len(lines)

    # -- jobs -----------------------------------------------------------------------

    def rollup(self, window: str, start: datetime, end: datetime) -> int:
        """KPIs of every ``window`` starting in [start, end), from the stored readings."""
        lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        readings = self.counter_readings(lo - self._lookback_ms, hi)
        frame = kpis(readings, self.park, self.config, self.coefficients, window=window)
        frame = frame.filter((pl.col("window") >= lo) & (pl.col("window") < hi))
        sensors = sensor_totals(
            readings, self.park, window=window, max_gap_ms=self.config.max_gap_s * 1000
        )
        sensors = sensors.filter((pl.col("window") >= lo) & (pl.col("window") < hi))
        lines = list(output.sensor_points(sensors, park=self.park.id, window=window)) + list(
            output.points(frame, park=self.park.id, window=window, tags=self.coefficients.tags())
        )
        return self._write(f"rollup_{window}", lines)

    def cems_hourly(self, start: datetime, end: datetime) -> int:
        """O2-corrected hourly means, validity and exceedances of every stack."""
        lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        stacks = {
            s.ref.sensor: stack
            for s in self.registry.sensors()
            if s.ref.park == self.park.id and (stack := cems.stack_of(s.spec)) is not None
        }
        enterprise = {s.ref.sensor: s.ref.enterprise for s in self.registry.sensors()}
        fields = ["o2_pct", *cems.POLLUTANTS]
        rows = []
        for sensor, values in self._series("emissions", fields, lo, hi):
            rows += [(sensor, int(v[0]), *v[1:]) for v in values]
        if not rows:
            return 0
        minutes = pl.DataFrame(rows, schema=["sensor", "ts", *fields], orient="row")
        rules = cems.CemsRules(
            self.config.cems.o2_max_valid_pct, self.config.cems.min_valid_minutes
        )
        hours = cems.hourly(minutes, stacks, tz=self.park.tz, rules=rules)
        lines = []
        for row in hours.iter_rows(named=True):
            tags = {
                "park": self.park.id,
                "enterprise": enterprise[row["sensor"]],
                "sensor": row["sensor"],
            }
            figures = {
                k: v for k, v in row.items() if k not in ("sensor", "hour") and v is not None
            }
            lines.append(encode_point("cems_hourly", tags, figures, row["hour"]))
        return self._write("cems_hourly", lines)

    def completeness(self, day: date) -> pl.DataFrame:
        """Readings received / expected per sensor for a local day; < 90 % is incomplete."""
        start = datetime.combine(day, datetime.min.time(), self.zone)
        lo, hi = int(start.timestamp() * 1000), int((start + timedelta(days=1)).timestamp() * 1000)
        expected = (hi - lo) // (self.expected_interval_s * 1000)
        counts: dict[str, int] = {}
        for kind in {s.ref.kind for s in self.registry.sensors() if s.ref.park == self.park.id}:
            first = next(iter(self.registry.kinds[kind].fields))
            query = Select(
                kind,
                [first],
                aggregate="count",
                tags={"park": self.park.id},
                start=_utc(lo),
                end=_utc(hi),
                group_by_tags=["sensor"],
            )
            for s in self.store.query(query.to_influxql()):
                counts[s.tags.get("sensor", "")] = int(s.values[0][1]) if s.values else 0
        rows = [
            (s.ref.enterprise, s.ref.sensor, counts.get(s.ref.sensor, 0))
            for s in self.registry.sensors()
            if s.ref.park == self.park.id
        ]
        frame = (
            pl.DataFrame(rows, schema=["enterprise", "sensor", "readings"], orient="row")
            .with_columns(
                expected=pl.lit(expected),
                completeness_pct=(pl.col("readings").clip(upper_bound=expected) / expected * 100),
            )
            .with_columns(complete=pl.col("completeness_pct") >= COMPLETE_PCT)
        )
        lines = [
            encode_point(
                "data_quality",
                {"park": self.park.id, "enterprise": r["enterprise"], "sensor": r["sensor"]},
                {
                    "readings": r["readings"],
                    "expected": r["expected"],
                    "completeness_pct": r["completeness_pct"],
                    "complete": r["complete"],
                },
                lo,
            )
            for r in frame.iter_rows(named=True)
        ]
        self._write("completeness", lines)
        return frame

    def stale_sensors(self) -> list[str]:
        """Sensors whose newest stored reading is older than ``stale_after_s`` (or none at all)."""
        now = self.clock.now_ms()
        newest: dict[str, int] = {}
        for kind in {s.ref.kind for s in self.registry.sensors() if s.ref.park == self.park.id}:
            first = next(iter(self.registry.kinds[kind].fields))
            query = Select(
                kind,
                [first],
                aggregate="last",
                tags={"park": self.park.id},
                start=_utc(now - 7 * 86_400_000),
                group_by_tags=["sensor"],
            )
            for s in self.store.query(query.to_influxql()):
                if s.values:
                    newest[s.tags.get("sensor", "")] = int(s.values[0][0])
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

    def quota(self, as_of: date) -> pl.DataFrame:
        """Quota burn-down of the month of ``as_of`` from the stored daily KPIs."""
        first = datetime.combine(as_of.replace(day=1), datetime.min.time(), self.zone)
        end = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), self.zone)
        query = Select(
            "kpi",
            ["energy_tce"],
            tags={"park": self.park.id, "window": "1d"},
            start=first,
            end=end,
            group_by_tags=["scope"],
        )
        rows = [
            (
                s.tags.get("scope", ""),
                datetime.fromtimestamp(int(v[0]) / 1000, self.zone).date(),
                float(v[1]),
            )
            for s in self.store.query(query.to_influxql())
            for v in s.values
            if s.tags.get("scope") != PARK_SCOPE
        ]
        daily = pl.DataFrame(
            rows,
            schema={"enterprise": pl.Utf8, "day": pl.Date, "energy_tce": pl.Float64},
            orient="row",
        )
        frame = burn_down(daily, self.config.quotas_tce_month, as_of=as_of)
        ts = int(first.timestamp() * 1000)
        lines = [
            encode_point(
                "quota",
                {"park": self.park.id, "enterprise": r["enterprise"]},
                {k: v for k, v in r.items() if k != "enterprise"},
                ts,
            )
            for r in frame.iter_rows(named=True)
        ]
        self._write("quota", lines)
        return frame

    def muju(self, year: int) -> pl.DataFrame:
        """The mu-average evaluation of ``year`` for the enterprises that declared figures
        (nothing when the configuration has no ``muju`` section)."""
        if self.config.muju is None:
            return pl.DataFrame()
        start = datetime(year, 1, 1, tzinfo=self.zone)
        end = datetime(year + 1, 1, 1, tzinfo=self.zone)
        # The evaluation counts electricity at 等价值 (equal value), whatever the KPI basis.
        query = Select(
            "kpi",
            ["energy_equal_value_tce"],
            aggregate="sum",
            tags={"park": self.park.id, "window": "1d"},
            start=start,
            end=end,
            group_by_tags=["scope"],
        )
        energy = {
            s.tags.get("scope", ""): float(s.values[0][1])
            for s in self.store.query(query.to_influxql())
            if s.values
        }
        park = self.registry.parks[self.park.id]
        land = {e.id: e.land_mu for e in park.enterprises}
        staff = {e.id: e.employees for e in park.enterprises}
        rows = [
            {
                "enterprise": d.enterprise,
                "revenue_cny": d.revenue_cny,
                "tax_cny": d.tax_cny,
                "added_value_cny": d.added_value_cny,
                "rd_cny": d.rd_cny,
                "local_score": d.local_score,
                "veto": d.veto,
                "land_mu": land.get(d.enterprise),
                "employees": staff.get(d.enterprise),
                "energy_tce": energy.get(d.enterprise),
            }
            for d in self.config.declared
            if d.year == year and d.month is None
        ]
        if not rows:
            return pl.DataFrame()
        graded = grade(pl.DataFrame(rows), self.config.muju.rules())
        ts = int(start.timestamp() * 1000)
        lines = [
            encode_point(
                "muju",
                {"park": self.park.id, "enterprise": r["enterprise"], "grade": r["grade"]},
                {"score": r["score"], "rank": r["rank"]},
                ts,
            )
            for r in graded.iter_rows(named=True)
        ]
        self._write("muju", lines)
        return graded


class Schedule:
    """The jobs on an APScheduler background scheduler in the park's time zone."""

    RETRY_MINUTES = (1, 2, 4, 8, 16, 30)

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs
        self.scheduler = BackgroundScheduler(
            timezone=jobs.zone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        zone = jobs.zone
        self._add("hourly", self._hourly, CronTrigger(minute=5, timezone=zone))
        self._add("daily", self._daily, CronTrigger(hour=0, minute=15, timezone=zone))
        self._add("monthly", self._monthly, CronTrigger(day=1, hour=1, minute=0, timezone=zone))
        self._add("stale", self.jobs.stale_sensors, CronTrigger(minute="*/5", timezone=zone))

    def _add(self, name: str, fn: Callable[[], object], trigger: object) -> None:
        self.scheduler.add_job(self.guarded(name, fn), trigger, id=name, name=name)

    def guarded(self, name: str, fn: Callable[[], object], attempt: int = 0) -> Callable[[], None]:
        """Run ``fn``; on failure log, count and schedule a retry with back-off."""

        def run() -> None:
            self.jobs.stats.runs[name] += 1
            try:
                fn()
            except Exception:  # any failure: logged, counted, retried; never skipped silently
                self.jobs.stats.failures[name] += 1
                delay = self.RETRY_MINUTES[min(attempt, len(self.RETRY_MINUTES) - 1)]
                logger.exception(
                    "job failed name=%s attempt=%d retry_in_min=%d", name, attempt + 1, delay
                )
                self.jobs.stats.retries[name] += 1
                when = datetime.now(UTC) + timedelta(minutes=delay)
                self.scheduler.add_job(
                    self.guarded(name, fn, attempt + 1),
                    DateTrigger(run_date=when),
                    id=f"{name}-retry",
                    replace_existing=True,
                )

        return run

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.jobs.clock.now_ms() / 1000, self.jobs.zone)

    def _hourly(self) -> None:
        now = self._now().replace(minute=0, second=0, microsecond=0)
        self.jobs.rollup("1h", now - timedelta(hours=1), now)
        today = now.replace(hour=0)
        self.jobs.rollup("1d", today, today + timedelta(days=1))
        self.jobs.cems_hourly(now - timedelta(hours=1), now)

    def _daily(self) -> None:
        today = self._now().replace(hour=0, minute=0, second=0, microsecond=0)
        yesterday = today - timedelta(days=1)
        self.jobs.rollup("1d", yesterday, today)
        month = yesterday.replace(day=1)
        self.jobs.rollup("1mo", month, today)
        self.jobs.completeness(yesterday.date())
        self.jobs.quota(yesterday.date())

    def _monthly(self) -> None:
        this_month = self._now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        last_month = (this_month - timedelta(days=1)).replace(day=1)
        self.jobs.rollup("1mo", last_month, this_month)
        self.jobs.muju(last_month.year)

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
