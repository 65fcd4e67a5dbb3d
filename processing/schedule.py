"""The scheduled jobs of one park on APScheduler, in the park's time zone:

- hourly at :05  the previous hour's and its day's KPIs (1h, 1d), CEMS hourly means
                 and the day's completeness so far
- daily at 00:15 yesterday (1d), the month so far (1mo), completeness per sensor,
                 quota and carbon-budget burn-down
- monthly, 1st at 01:00  last month's days and hours again (green power settled on the
                         month), the month (1mo) and the mu-average evaluation
- every 5 min    today's completeness so far (to 5 minutes ago), stale sensors

A missed run (the process was down) still runs once when it can (coalesced, one
hour of grace); runs of one job never overlap. A job that fails is logged, counted
and retried with back-off (1, 2, 4 ... 30 minutes), never silently skipped. What a
run does for its period is ``periods``; ``smartpark jobs run`` runs the same code for
any past period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from processing import periods
from processing.jobs import Jobs

logger = logging.getLogger(__name__)


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
        self._add("today", self._today, CronTrigger(minute="*/5", timezone=zone))
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
        periods.hourly(self.jobs, self._now() - timedelta(hours=1))

    def _today(self) -> None:
        periods.today(self.jobs, self._now())

    def _daily(self) -> None:
        periods.daily(self.jobs, (self._now() - timedelta(days=1)).date())

    def _monthly(self) -> None:
        this_month = self._now().date().replace(day=1)
        periods.monthly(self.jobs, (this_month - timedelta(days=1)).replace(day=1))

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
