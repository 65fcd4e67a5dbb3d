"""The scheduled jobs of one period: what the scheduler runs for the hour, day or month
that just closed, and what ``smartpark jobs run`` runs for any past one (the same code).

Each function takes the period as a local date or time in the park's zone (never the
wall clock) and returns the points each of its jobs wrote, by job name.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal

from processing.jobs import Jobs
from smartpark.errors import ConfigError

PeriodJob = Literal["hourly", "daily", "monthly"]

# how long a reading may still be on its way when a "so far" figure is taken: the hourly
# job runs at :05 for the hour before, and the day so far stops 5 minutes short of now
SETTLE = timedelta(minutes=5)


def day_start(jobs: Jobs, day: date) -> datetime:
    """The first moment of the local ``day`` in the park's zone."""
    return datetime.combine(day, datetime.min.time(), jobs.zone)


def next_month(first: date) -> date:
    """The first day of the month after the one ``first`` is in."""
    return (first.replace(day=1) + timedelta(days=32)).replace(day=1)


def hourly(jobs: Jobs, hour: datetime) -> dict[str, int]:
    """The local hour starting at ``hour``: its KPIs (1h), its day so far (1d), its
    stacks' CEMS hourly means and its day's completeness so far (the whole day once a
    reading past its end is stored: a past hour run again never cuts its day short)."""
    start = hour.astimezone(jobs.zone).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=1)
    day = day_start(jobs, start.date())
    newest = jobs.reads.newest_counter_ms()
    closed = newest is not None and newest >= (day + timedelta(days=1)).timestamp() * 1000
    return {
        "rollup_1h": jobs.rollup("1h", start, end),
        "rollup_1d": jobs.rollup("1d", day, day + timedelta(days=1)),
        "cems_hourly": jobs.cems_hourly(start, end),
        "completeness": jobs.completeness(start.date(), until=None if closed else end).height,
    }


def today(jobs: Jobs, now: datetime) -> dict[str, int]:
    """Today's completeness so far, every 5 minutes: expected readings up to ``now`` on
    the 5-minute grid less ``SETTLE`` (a reading of the last minutes still on its way is
    not missing). None in the day's first minutes: nothing is due yet, and the views
    show yesterday's day until today's first figure."""
    at = now.astimezone(UTC)
    until = at.replace(minute=at.minute // 5 * 5, second=0, microsecond=0) - SETTLE
    local = now.astimezone(jobs.zone)
    if until <= day_start(jobs, local.date()):
        return {"completeness": 0}
    return {"completeness": jobs.completeness(local.date(), until=until).height}


def daily(jobs: Jobs, day: date) -> dict[str, int]:
    """The local ``day`` once it is over: its KPIs (1d), its month up to it (1mo),
    completeness per sensor, quota and carbon-budget burn-down of its month to it."""
    start = day_start(jobs, day)
    end = start + timedelta(days=1)
    month = day_start(jobs, day.replace(day=1))
    return {
        "rollup_1d": jobs.rollup("1d", start, end),
        "rollup_1mo": jobs.rollup("1mo", month, end),
        "completeness": jobs.completeness(day).height,
        "quota": jobs.quota(day).height,
        "carbon_budget": jobs.carbon_budget(day).height,
    }


def monthly(jobs: Jobs, month: date) -> dict[str, int]:
    """The local month of ``month`` once it is over: its days and hours again (green power
    settled on the whole month), its KPIs (1mo) and the mu-average evaluation (the whole
    year after December, an interim view January..month otherwise)."""
    first = month.replace(day=1)
    start, end = day_start(jobs, first), day_start(jobs, next_month(first))
    # the days, then their hours, settled on the closed month's green power (written
    # while it was open, on the contract pro-rated to then); a day at a time
    days = jobs.rollup("1d", start, end)
    hours, day = 0, first
    while day < next_month(first):
        at = day_start(jobs, day)
        hours += jobs.rollup("1h", at, day_start(jobs, day + timedelta(days=1)))
        day += timedelta(days=1)
    rolled = jobs.rollup("1mo", start, end)
    if first.month == 12:  # a whole year on its own figures
        graded = jobs.muju(first.year)
    else:  # an interim view on the same months' figures
        graded = jobs.muju(first.year, through_month=first.month)
    return {"rollup_1d": days, "rollup_1h": hours, "rollup_1mo": rolled, "muju": graded.height}


def streamed(jobs: Jobs, first: date, now: datetime) -> dict[str, int]:
    """What the scheduler would have run from the local day ``first`` up to ``now`` for
    readings the processor has just taken as a stream (a backfill), less the roll-ups of
    hours and days the stream wrote already: every complete hour's CEMS hourly means,
    each past day's completeness and quota and carbon-budget burn-down (the daily job's
    evaluations), today's completeness so far (``today``), and each closed month's job (``monthly``:
    its days and hours settled on the month, the month, the mu-average view). A day or
    an hour at a time, as the scheduler does; the points written, by job."""
    out: dict[str, int] = {}

    def add(written: dict[str, int]) -> None:
        for job, n in written.items():
            out[job] = out.get(job, 0) + n

    now = now.astimezone(jobs.zone)
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = first
    while day < now.date():
        start = day_start(jobs, day)
        add({
            "cems_hourly": jobs.cems_hourly(start, day_start(jobs, day + timedelta(days=1))),
            "completeness": jobs.completeness(day).height,
            "quota": jobs.quota(day).height,
            "carbon_budget": jobs.carbon_budget(day).height,
        })  # fmt: skip
        if next_month(day) == day + timedelta(days=1):  # its month closed with it
            add(monthly(jobs, day))
        day += timedelta(days=1)
    midnight = day_start(jobs, now.date())
    if hour > midnight:
        add({"cems_hourly": jobs.cems_hourly(midnight, hour)})
    add(today(jobs, now))
    return out


def periods(job: PeriodJob, first: datetime, last: datetime) -> list[datetime]:
    """The local starts of every ``job`` period from the one ``first`` is in to the one
    ``last`` is in, both included (hours, days or months)."""
    out: list[datetime] = []
    if job == "hourly":
        at = first.replace(minute=0, second=0, microsecond=0)
        while at <= last:
            out.append(at)
            # by absolute time: a zone with DST neither repeats nor skips an hour
            at = (at.astimezone(UTC) + timedelta(hours=1)).astimezone(first.tzinfo)
        return out
    at = first.replace(hour=0, minute=0, second=0, microsecond=0)
    if job == "monthly":
        at = at.replace(day=1)
    while at <= last:
        out.append(at)
        following = next_month(at.date()) if job == "monthly" else at.date() + timedelta(days=1)
        at = datetime.combine(following, datetime.min.time(), at.tzinfo)
    return out


def run(jobs: Jobs, job: PeriodJob, start: datetime) -> dict[str, int]:
    """The ``job`` of the period starting at ``start`` (a local time in the park's zone)."""
    if job == "hourly":
        return hourly(jobs, start)
    if job == "daily":
        return daily(jobs, start.date())
    return monthly(jobs, start.date())


FORMATS: dict[PeriodJob, tuple[str, str]] = {
    "hourly": ("%Y-%m-%dT%H", "YYYY-MM-DDTHH"),
    "daily": ("%Y-%m-%d", "YYYY-MM-DD"),
    "monthly": ("%Y-%m", "YYYY-MM"),
}


def parse(job: PeriodJob, text: str, zone: tzinfo) -> datetime:
    """The local start of the ``job`` period ``text`` names (``2026-11-10T13``,
    ``2026-11-10``, ``2026-11``) in ``zone``; ``ConfigError`` on anything else."""
    fmt, shown = FORMATS[job]
    try:
        naive = datetime.strptime(text, fmt)
    except ValueError as exc:
        raise ConfigError(f"{job} period {text!r} is not {shown}") from exc
    return naive.replace(tzinfo=zone)
