"""Panels at the times their jobs write them: each panel's query, expanded as Grafana
expands it over the range Grafana gives it (the panel's own, else the board's default)
at a stated "now", run against the real InfluxDB after the real job ran for a past
period (the code ``smartpark jobs run`` and the scheduler call), and the alert
annotation after the real alert service took a past day."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dashboards import expand
from processing import periods
from processing.config import Declared
from processing.config import load as load_config
from processing.jobs import Jobs
from smartpark.clock import SystemClock
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.store.lineprotocol import encode_point
from tests.alerts.test_events import _events, _replay_day
from tests.conftest import ROOT, wait_until
from tests.processing.test_periods import _write_readings
from tests.processing.test_stream import COEF

DEPLOY = ROOT / "deploy" / "grafana" / "dashboards"
CST = ZoneInfo("Asia/Shanghai")
VARIABLES = {"park": "tianfu-np", "enterprise": "e08-anode"}


def _board(uid: str) -> dict[str, Any]:
    board: dict[str, Any] = json.loads((DEPLOY / f"{uid}.json").read_text(encoding="utf-8"))
    return board


def _panel(uid: str, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The board and the panel whose title starts with ``key``."""
    board = _board(uid)
    return board, next(p for p in board["panels"] if p["title"].startswith(key))


def _shown(
    store: Influx1Store, board: dict[str, Any], query: str, panel: dict[str, Any],
    now: datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    """The rows the query returns at ``now``, over the range Grafana gives the panel (its
    own ``timeFrom`` and ``timeShift``, else the board's)."""
    start, end = expand.panel_range_ms(panel, board["time"]["from"],
                                       now_ms=int(now.timestamp() * 1000), zone=CST)  # fmt: skip
    text = expand.influxql(query, from_ms=start, to_ms=end, variables=VARIABLES)
    return [
        {**s.tags, **dict(zip(s.columns, row, strict=True))}
        for s in store.query(text)
        for row in s.values
    ]


def _jobs(store: Influx1Store, park: Registry) -> Jobs:
    config = load_config(ROOT / "examples" / "processing.yaml")
    return Jobs(registry=park, park_id="tianfu-np", config=config, coefficients=COEF,
                store=store, clock=SystemClock())  # fmt: skip


def test_the_grades_panel_shows_the_year_job_once_per_enterprise_from_the_day_after(
    store: Influx1Store, park: Registry
) -> None:
    """The year job of 2025 runs on 1 January 2026 (the monthly job of December) and
    stamps its grades at the start of 2025; the board's "last year" starts after that
    stamp, so the panel reads from the start of the year before last. Interim views and
    a rerun of the year job leave one row per enterprise: its final 2025 grade."""
    lines = [
        encode_point("kpi", {"park": "tianfu-np", "scope": scope, "window": "1d"},
                     {"energy_equal_value_tce": tce},
                     int(datetime(2025, 6, day, tzinfo=CST).timestamp() * 1000))
        for day in (1, 2)
        for scope, tce in (("e08-anode", 300.0), ("e09-anode", 120.0), ("e01-baijiu", 50.0))
    ]  # fmt: skip
    store.write("\n".join(lines).encode())
    jobs = _jobs(store, park)
    monthly = [  # e08 and e09 declare each month too: interim views of them exist
        Declared(enterprise=e, year=2025, month=m, revenue_cny=r, tax_cny=r / 20,
                 added_value_cny=r / 4, rd_cny=r / 50, local_score=80)
        for e, r in (("e08-anode", 2e8), ("e09-anode", 1e8))
        for m in range(1, 12)
    ]  # fmt: skip
    muju = jobs.config.muju.model_copy(update={"min_enterprises": 2})  # type: ignore[union-attr]
    jobs.config = jobs.config.model_copy(
        update={"muju": muju, "declared": [*jobs.config.declared, *monthly]}
    )
    interim = jobs.muju(2025, through_month=11)  # an interim view, as on 1 December
    assert interim.height == 2
    year = periods.run(jobs, "monthly", datetime(2025, 12, 1, tzinfo=CST))
    graded = jobs.muju(2025)  # the year job again (a rerun, a correction): overwritten
    assert year["muju"] == graded.height >= 2
    expected = {r["enterprise"]: (r["grade"], r["rank"]) for r in graded.iter_rows(named=True)}
    assert {g for g, _r in expected.values()} <= {"A", "B", "C", "D"}

    board, panel = _panel("smartpark-evaluation", "Mu-average grades")
    [target] = panel["targets"]
    stamp = datetime(2025, 1, 1, tzinfo=CST)
    for now in (
        datetime(2026, 1, 2, 9, 0, tzinfo=CST),  # the day after the job ran
        datetime(2026, 12, 31, 23, 59, tzinfo=CST),
        datetime(2027, 1, 1, 0, 30, tzinfo=CST),  # before the 2026 year job has run
    ):
        rows = _shown(store, board, target["query"], panel, now)
        assert {r["enterprise"]: (r["grade"], r["rank"]) for r in rows} == expected, now
        assert len(rows) == len(expected) and {r["evaluated"] for r in rows} == {"2025"}
        # what the board's own "last year" would have shown: nothing
        board_from = expand.relative_ms(board["time"]["from"],
                                        now_ms=int(now.timestamp() * 1000), zone=CST)  # fmt: skip
        assert board_from > stamp.timestamp() * 1000


def test_the_product_limits_panel_shows_the_whole_month_before_not_this_months_first_days(
    store: Influx1Store,
) -> None:
    """The panel's "last month" is the month before, whole: on 3 March (and on 31 March,
    and at 00:30 on 1 March) it shows February's 1mo point, not March's, which the stream
    rewrites every minute from a few days' readings; on 1 April, March's."""

    def month_point(year: int, month: int, kgce: float) -> str:
        start = int(datetime(year, month, 1, tzinfo=CST).timestamp() * 1000)
        fields = {"product_energy_kgce_per_output": kgce, "product_limit_kgce_per_output": 100.0,
                  "product_limit_met": kgce <= 100.0}  # fmt: skip
        return encode_point("kpi", {"park": "tianfu-np", "scope": "e08-anode", "window": "1mo"},
                            fields, start)  # fmt: skip

    store.write("\n".join([month_point(2026, 1, 70.0), month_point(2026, 2, 90.0),
                           month_point(2026, 3, 140.0)]).encode())  # fmt: skip
    board, panel = _panel("smartpark-evaluation", "Energy per unit of product")
    assert (panel["timeFrom"], panel["timeShift"]) == ("now/M", "1M/M")
    [target] = panel["targets"]
    for now, want in (
        (datetime(2026, 3, 3, 9, 0, tzinfo=CST), 90.0),
        (datetime(2026, 3, 31, 23, 59, tzinfo=CST), 90.0),
        (datetime(2026, 3, 1, 0, 30, tzinfo=CST), 90.0),
        (datetime(2026, 4, 1, 8, 0, tzinfo=CST), 140.0),
    ):
        rows = _shown(store, board, target["query"], panel, now)
        assert [(r["scope"], r["product_energy_kgce_per_output"]) for r in rows] == [
            ("e08-anode", want)
        ], now


def test_the_completeness_panel_shows_today_so_far_and_yesterday_in_the_days_first_minutes(
    store: Influx1Store, park: Registry
) -> None:
    """The 5-minute job at 10:05 writes today's completeness so far (to 10:00, as the
    hourly job does): the park board's panel shows it for every sensor: with readings from
    09:00, a minute meter is 10 % complete (60 of the 600 minutes since midnight). At 00:05
    of the next day, before that day's first figure, the panel shows the day before whole
    (not an empty panel); from the next day's first figure, that one."""
    day = (datetime.now(CST) - timedelta(days=3)).date()
    nine = datetime.combine(day, datetime.min.time(), CST).replace(hour=9)
    at_run = nine.replace(hour=10, minute=5)
    _write_readings(store, park, nine, 65 / 60)  # to 10:05
    jobs = _jobs(store, park)
    written = periods.today(jobs, at_run)
    board, panel = _panel("smartpark-park", "Data completeness")
    [target] = panel["targets"]
    rows = _shown(store, board, target["query"], panel, at_run)
    assert len(rows) == written["completeness"] == 101  # every sensor of the park
    shown = {r["sensor"]: r["completeness_pct"] for r in rows}
    assert shown["e08-grid-1"] == pytest.approx(60 / (10 * 60) * 100)
    # the hourly job of 9:00 (run at 10:05 too) writes the same figure
    periods.hourly(jobs, nine)
    assert _shown(store, board, target["query"], panel, at_run) == rows
    # the day before, nothing of this day shows
    assert _shown(store, board, target["query"], panel,
                  at_run - timedelta(days=1)) == []  # fmt: skip
    _write_readings(store, park, at_run, 850 / 60)  # the rest: to 00:15 of the next day
    # the next day's first minutes: the daily job has not run (00:15), the 5-minute job
    # has nothing due yet; the day so far (to 10:00) shows, not an empty panel
    next_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), CST)
    assert periods.today(jobs, next_day.replace(minute=5)) == {"completeness": 0}
    early = _shown(store, board, target["query"], panel,
                   next_day.replace(minute=5))  # fmt: skip
    assert {r["sensor"]: r["completeness_pct"] for r in early} == shown
    # 00:15: the daily job writes the day whole, the 5-minute job the new day to 00:10
    periods.daily(jobs, day)
    periods.today(jobs, next_day.replace(minute=15))
    late = _shown(store, board, target["query"], panel,
                  next_day.replace(minute=15))  # fmt: skip
    assert len(late) == 101
    assert {r["sensor"]: r["completeness_pct"] for r in late}["e08-grid-1"] == 100


def test_the_alert_annotation_shows_a_past_days_alert_at_its_event_time(
    settings: Settings, park: Registry, store: Influx1Store, publisher: BoundedPublisher,
    tmp_path: Path,
) -> None:  # fmt: skip
    """The enterprise board's alert annotation (and the park board's alerts table on that
    day) return a replayed past day's alert at the readings' times, not today."""
    crossed = int(datetime.combine((datetime.now(CST) - timedelta(days=2)).date(),
                                   datetime.min.time(), CST).replace(hour=14).timestamp() * 1000)  # fmt: skip
    cleared = crossed + 3 * 60_000
    day = [(crossed, 7600.0), (cleared, 6900.0)]
    service = _replay_day(settings, park, store, publisher, tmp_path / "alerts", day)
    try:
        wait_until(lambda: len(_events(store)) == 2, 15, "the firing and the resolution")
    finally:
        service.stop()
    board = _board("smartpark-enterprise")
    [annotation] = [a for a in board["annotations"]["list"] if a.get("name") == "alerts"]
    rows = _shown(store, board, annotation["query"], {}, datetime.now(CST))
    assert sorted((r["time"], r["rule"]) for r in rows) == [
        (crossed, "grid-high"), (cleared, "grid-high")
    ]  # fmt: skip
    park_board, table = _panel("smartpark-park", "Alert events")
    on_that_day = datetime.fromtimestamp(cleared / 1000, CST).replace(hour=23)
    rows = _shown(store, park_board, table["targets"][0]["query"], table, on_that_day)
    assert sorted((r["time"], r["event"]) for r in rows) == [
        (crossed, "firing"), (cleared, "resolved")
    ]  # fmt: skip
