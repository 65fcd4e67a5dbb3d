"""``smartpark jobs run`` for a past period writes what the scheduler writes when that
period closes (the same code), and periods are named in the park's local time."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest

from processing import periods
from processing.config import load as load_config
from processing.jobs import Jobs
from processing.schedule import Schedule
from smartpark.clock import ManualClock
from smartpark.errors import ConfigError
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store import open_store
from smartpark.store.influx1 import Influx1Store
from smartpark.store.lineprotocol import encode_point
from tests.conftest import ROOT
from tests.processing.test_stream import COEF, CST, _messages

EXAMPLE_CONFIG = ROOT / "examples" / "processing.yaml"


@pytest.mark.parametrize(
    ("job", "text", "start"),
    [
        ("hourly", "2026-11-10T13", datetime(2026, 11, 10, 13, tzinfo=CST)),
        ("daily", "2026-11-10", datetime(2026, 11, 10, tzinfo=CST)),
        ("monthly", "2026-11", datetime(2026, 11, 1, tzinfo=CST)),
        ("monthly", "2026-12", datetime(2026, 12, 1, tzinfo=CST)),
    ],
)
def test_a_period_is_named_by_its_local_start(job: Any, text: str, start: datetime) -> None:
    assert periods.parse(job, text, CST) == start


@pytest.mark.parametrize(
    ("job", "text", "message"),
    [
        ("daily", "2026-11", "daily period '2026-11' is not YYYY-MM-DD"),
        ("daily", "2026-11-31", "daily period '2026-11-31' is not YYYY-MM-DD"),
        ("monthly", "2026-11-10", "monthly period '2026-11-10' is not YYYY-MM"),
        ("hourly", "2026-11-10 13:00", "hourly period '2026-11-10 13:00' is not YYYY-MM-DDTHH"),
    ],
)
def test_a_wrong_period_is_a_clear_error(job: Any, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        periods.parse(job, text, CST)


@pytest.mark.parametrize(
    ("job", "first", "last", "starts"),
    [
        ("hourly", "2026-11-10T22", "2026-11-11T01", ["2026-11-10T22", "2026-11-10T23",
                                                     "2026-11-11T00", "2026-11-11T01"]),
        ("daily", "2026-11-29", "2026-12-02", ["2026-11-29", "2026-11-30", "2026-12-01",
                                               "2026-12-02"]),
        ("daily", "2026-11-10", "2026-11-10", ["2026-11-10"]),
        ("monthly", "2026-11", "2027-02", ["2026-11", "2026-12", "2027-01", "2027-02"]),
    ],
)  # fmt: skip
def test_a_range_runs_every_period_from_first_to_last(
    job: Any, first: str, last: str, starts: list[str]
) -> None:
    out = periods.periods(job, periods.parse(job, first, CST), periods.parse(job, last, CST))
    assert [p.strftime(periods.FORMATS[job][0]) for p in out] == starts


def _write_readings(store: Influx1Store, park: Registry, start: datetime, hours: float) -> int:
    """The example park's feed from ``start``, stored as the collector stores it."""
    lines = []
    for m in _messages(park, "t", hours, start):
        _, park_id, enterprise, kind, sensor = m.topic.split("/")
        body = orjson.loads(m.payload)
        for reading in body if isinstance(body, list) else [body]:
            tags = {"park": park_id, "enterprise": enterprise, "sensor": sensor}
            lines.append(encode_point(kind, tags, reading["values"], int(reading["ts"])))
    store.write("\n".join(lines).encode())
    return len(lines)


def _everything(store: Influx1Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every point the jobs wrote (the readings left out), by measurement and series."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    measurements = [v[0] for s in store.query("SHOW MEASUREMENTS") for v in s.values]
    for m in measurements:
        if m in ("electricity", "pv", "gas", "emissions", "production"):
            continue
        for s in store.query(f'SELECT * FROM "{m}" GROUP BY *'):  # noqa: S608 (SHOW's names)
            key = (m, tuple(sorted(s.tags.items())))
            out[str(key)] = [tuple(v) for v in s.values]
    return out


@pytest.fixture
def other_store(settings: Settings) -> Iterator[Influx1Store]:
    """A second database of this test's, for the scheduler's run."""
    st = open_store(
        settings.influx.model_copy(update={"database": f"{settings.influx.database}_s"})
    )
    assert isinstance(st, Influx1Store)
    st.ensure_database()
    yield st
    st.close()


def test_jobs_run_for_a_past_period_writes_what_the_scheduler_writes_when_it_closes(
    settings: Settings, park: Registry, store: Influx1Store, other_store: Influx1Store
) -> None:
    """Three hours of the example park on 4 November in two databases: one gets
    ``smartpark jobs run`` (a user's command), the other the scheduler's runs at 11:05 and
    12:05, 00:15 on the 5th, 01:00 on 1 December and 1 January. Both hold the same points
    afterwards."""
    start = datetime(2026, 11, 4, 9, 58, tzinfo=CST)
    for st in (store, other_store):
        _write_readings(st, park, start, 3)
    env = {
        **os.environ,
        "SMARTPARK_INFLUX__URL": settings.influx.url,
        "SMARTPARK_INFLUX__DATABASE": settings.influx.database,
    }

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "smartpark", "jobs", "run", *args,
             "--config", str(EXAMPLE_CONFIG), "--registry", str(ROOT / "examples" / "park.yaml")],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    hourly = cli("hourly", "--hour", "2026-11-04T10", "--through", "2026-11-04T11")
    assert hourly.splitlines() == [
        "hourly 2026-11-04T10: rollup_1h=95 rollup_1d=95 cems_hourly=13 completeness=101",
        "hourly 2026-11-04T11: rollup_1h=95 rollup_1d=95 cems_hourly=13 completeness=101",
    ]  # 12 enterprises and the park, 82 carrier meters; 13 stacks
    daily = cli("daily", "--day", "2026-11-04")
    assert daily == (
        "daily 2026-11-04: rollup_1d=95 rollup_1mo=95 completeness=101 quota=2 carbon_budget=2\n"
    )
    # November: an interim view nobody declared months for; December closes the year
    monthly = cli("monthly", "--month", "2026-11", "--through", "2026-12")
    assert (
        monthly.splitlines()
        == [
            "monthly 2026-11: rollup_1d=95 rollup_1h=380 rollup_1mo=95 muju=0",
            "monthly 2026-12: rollup_1d=0 rollup_1h=0 rollup_1mo=0 muju=3",  # the three that declared 2026
        ]
    )

    clock = ManualClock(int(datetime(2026, 11, 4, 11, 5, tzinfo=CST).timestamp() * 1000))
    schedule = Schedule(
        Jobs(registry=park, park_id="tianfu-np", config=load_config(EXAMPLE_CONFIG),
             coefficients=COEF, store=other_store, clock=clock)
    )  # fmt: skip
    for at, run in (
        (datetime(2026, 11, 4, 11, 5), schedule._hourly),
        (datetime(2026, 11, 4, 12, 5), schedule._hourly),
        (datetime(2026, 11, 5, 0, 15), schedule._daily),
        (datetime(2026, 12, 1, 1, 0), schedule._monthly),
        (datetime(2027, 1, 1, 1, 0), schedule._monthly),
    ):
        clock.advance((at.replace(tzinfo=CST).timestamp() * 1000 - clock.now_ms()) / 1000)
        run()
    by_cli, by_schedule = _everything(store), _everything(other_store)
    kinds = {k.split("'")[1] for k in by_cli}
    assert kinds >= {"kpi", "sensor_use", "cems_hourly", "data_quality", "quota", "muju"}
    assert by_cli == by_schedule


def test_a_job_given_the_wrong_period_says_so() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "smartpark", "jobs", "run", *args],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    wrong = run("daily", "--month", "2026-11")
    assert wrong.returncode == 1 and "--month does not apply to the daily job" in wrong.stderr
    missing = run("monthly")
    assert missing.returncode == 1 and "the monthly job needs --month" in missing.stderr
    unknown = run("weekly")
    assert unknown.returncode == 1 and "unknown job 'weekly'" in unknown.stderr
    nowhere = run("stale", "--park", "nowhere")  # --park is the park's, not ignored
    assert nowhere.returncode == 1 and "unknown park 'nowhere'" in nowhere.stderr
    assert "Traceback" not in wrong.stderr + missing.stderr + unknown.stderr + nowhere.stderr


def test_today_so_far_stops_short_of_now_and_is_none_in_the_days_first_minutes(
    park: Registry, store: Influx1Store
) -> None:
    """The 5-minute job's completeness of today (the scheduler's and the history's code):
    at 10:07:30 the day up to 10:00 (the 5-minute grid less 5 minutes: the last minutes'
    readings may still be on their way), 600 of 600 for a minute meter; at 00:09 of the
    next day nothing (nothing due yet: the views show that day's whole figure); at 00:12
    the 5 minutes to 00:05. ``streamed`` (a backfill that ends now) writes the same; the
    hourly job of a closed day's hour, run again, the whole day."""
    midnight = datetime(2026, 11, 4, tzinfo=CST)
    _write_readings(store, park, midnight, 24.25)  # to 00:15 of the 5th
    sensors = sum(1 for s in park.sensors() if s.ref.park == "tianfu-np")
    jobs = Jobs(registry=park, park_id="tianfu-np", config=load_config(EXAMPLE_CONFIG),
                coefficients=COEF, store=store, clock=ManualClock())  # fmt: skip

    def grid_1(day: datetime) -> tuple[int, int] | None:
        at = int(day.timestamp() * 1000)
        rows = store.query(  # an int of ours, nothing read
            f"SELECT readings, expected FROM data_quality WHERE sensor = 'e08-grid-1' AND time = {at}ms"  # noqa: S608
        )
        return (rows[0].values[0][1], rows[0].values[0][2]) if rows else None

    assert periods.today(jobs, midnight.replace(hour=10, minute=7, second=30)) == {
        "completeness": sensors
    }
    assert grid_1(midnight) == (600, 600)
    next_day = midnight.replace(day=5)
    assert periods.today(jobs, next_day.replace(minute=9)) == {"completeness": 0}
    assert grid_1(next_day) is None
    assert periods.streamed(jobs, next_day.date(), next_day.replace(minute=9)) == {
        "completeness": 0
    }
    assert grid_1(next_day) is None
    assert periods.today(jobs, next_day.replace(minute=12)) == {"completeness": sensors}
    assert grid_1(next_day) == (5, 5)
    # the backfill through the 4th to 00:12 of the 5th: the 4th's whole day, the 5th so far
    written = periods.streamed(jobs, midnight.date(), next_day.replace(minute=12))
    assert written["completeness"] == 2 * sensors
    assert grid_1(midnight) == (1440, 1440) and grid_1(next_day) == (5, 5)
    # the hourly job of a past hour run again (``smartpark jobs run hourly``) once its day
    # is over by the readings: the whole day, not the day cut short at that hour
    assert periods.hourly(jobs, midnight.replace(hour=10))["completeness"] == sensors
    assert grid_1(midnight) == (1440, 1440)
