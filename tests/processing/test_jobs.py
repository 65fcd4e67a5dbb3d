"""Scheduled jobs against the real InfluxDB: roll-ups equal the stream, CEMS hours,
completeness, quota and mu-average from stored data; failures are counted and retried."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import orjson
import polars as pl
import pytest
import yaml

from processing.config import Declared
from processing.config import load as load_config
from processing.jobs import Jobs
from processing.schedule import Schedule
from simulators import recording
from simulators.player import play
from simulators.scenario import load as load_scenario
from simulators.stream import ParkFeed
from smartpark import registry as registry_mod
from smartpark.clock import ManualClock, SystemClock
from smartpark.limits import CarbonBudgets
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select
from smartpark.store.lineprotocol import encode_point
from tests.conftest import EXAMPLE_PARK, ROOT, CollectorFactory, wait_until
from tests.processing.test_stream import COEF, CONFIG, CST, START, _messages, _processor, _stored


def _jobs(park: Registry, store: Influx1Store, clock: object = None) -> Jobs:
    return Jobs(
        registry=park,
        park_id="tianfu-np",
        config=CONFIG,
        coefficients=COEF,
        store=store,
        clock=clock or SystemClock(),
    )  # type: ignore[arg-type]


def test_the_scheduled_roll_up_of_a_replayed_period_equals_the_stream(
    settings: Settings,
    park: Registry,
    store: Influx1Store,
    publisher: BoundedPublisher,
    make_collector: CollectorFactory,
) -> None:
    collector = make_collector(settings)
    processor = _processor(settings, park, store, "p")
    day = START.replace(hour=0)
    try:
        # A whole day, and the first minute of the next, which closes the day's windows;
        # each sensor's readings ten minutes a message (a gateway's arrays)
        messages = _messages(park, settings.mqtt.topic_root, 24 + 1 / 60, day, batch=10)
        play(iter(messages), publisher.publish, clock=SystemClock(), speed=None)
        # >=: a redelivered message (QoS 1, at least once) is stored again, idempotently.
        wait_until(lambda: collector.stats.stored_readings >= 101 * 1441, 120, "the day stored")
        wait_until(lambda: processor.stats.readings >= 82 * 1441, 60, "the processor up to date")
        wait_until(lambda: _stored(store, "1d").height == 13, 30, "the day streamed")
    finally:
        processor.stop()
    streamed = {w: _stored(store, w).sort("scope", "window") for w in ("15m", "1h", "1d")}
    assert [streamed[w].height for w in ("15m", "1h", "1d")] == [96 * 13, 24 * 13, 13]
    jobs = _jobs(park, store)
    end = day + timedelta(days=1)
    written = {w: jobs.rollup(w, day, end) for w in ("15m", "1h", "1d")}
    per_window = 13 + 82  # 12 enterprises and the park; 82 carrier meters (sensor_use)
    assert written == {"15m": 96 * per_window, "1h": 24 * per_window, "1d": per_window}
    meters = store.query(
        "SELECT sum(grid_kwh) FROM sensor_use WHERE \"window\" = '1d' AND enterprise = 'e08-anode'"
    )
    e08 = _stored(store, "1d").filter(pl.col("scope") == "e08-anode")
    assert meters[0].values[0][1] == pytest.approx(e08["grid_kwh"].item(), rel=1e-12)
    for window, before in streamed.items():
        after = _stored(store, window).sort("scope", "window")
        assert after["window"].to_list() == before["window"].to_list()
        assert after["energy_tce"].to_list() == pytest.approx(
            before["energy_tce"].to_list(), rel=1e-12
        )
    rolled = _stored(store, "1d").sort("scope", "window")
    assert jobs.rollup("1d", day, end) == per_window  # idempotent: the same points again
    assert _stored(store, "1d").sort("scope", "window").equals(rolled)

    quality = jobs.completeness(day.date())
    assert quality["expected"][0] == 1440 and (quality["readings"] == 1440).all()
    assert quality["complete"].all()


def test_cems_hourly_job_finds_the_exceedance_hours_of_the_scenario(
    settings: Settings,
    park: Registry,
    store: Influx1Store,
    publisher: BoundedPublisher,
    make_collector: CollectorFactory,
) -> None:
    scenario = load_scenario(ROOT / "examples" / "scenarios" / "cems-exceedance-day.yaml")
    feed = ParkFeed(park, scenario, root=settings.mqtt.topic_root)
    stack = [
        m
        for f in feed.frames(scenario.start_ms, scenario.end_ms)
        for m in recording.frame_messages(f)
        if m.topic.endswith(("/e08-stack-1", "/e10-stack-1"))
    ]
    collector = make_collector(settings)
    play(iter(stack), publisher.publish, clock=SystemClock(), speed=None)
    wait_until(lambda: collector.stats.stored_readings >= len(stack), 30, "the stacks' day stored")
    day = datetime(2026, 11, 4, tzinfo=CST)
    assert _jobs(park, store).cems_hourly(day, day + timedelta(days=1)) == 48
    series = store.query(
        "SELECT nox_mg_m3_exceeded, so2_mg_m3_exceeded, valid_minutes FROM cems_hourly GROUP BY sensor"
    )
    by_sensor = {s.tags["sensor"]: s.values for s in series}

    def hours(rows, col):
        return [datetime.fromtimestamp(r[0] / 1000, CST).hour for r in rows if r[col]]

    assert hours(by_sensor["e08-stack-1"], 1) == [9, 10, 11]
    assert hours(by_sensor["e10-stack-1"], 2) == []  # 45 minutes over, no hourly mean over


def test_cems_hourly_job_leaves_out_the_minutes_the_analyser_flagged(
    settings: Settings,
    park: Registry,
    store: Influx1Store,
    publisher: BoundedPublisher,
    make_collector: CollectorFactory,
) -> None:
    """An hour of e08-stack-1 through the collector: 15 calibration minutes (HJ 212 flag C,
    5) at 500 mg/m3 and 45 normal ones at 20. The stored hour: 45 valid minutes, mean 20."""
    collector = make_collector(settings)
    hour = datetime(2026, 11, 5, 9, tzinfo=CST)
    t0 = int(hour.timestamp() * 1000)
    minutes = [
        {"ts": t0 + i * 60_000,
         "values": {"o2_pct": 3.5, "nox_mg_m3": 500.0 if i < 15 else 20.0, "so2_mg_m3": 1.0,
                    "pm_mg_m3": 2.0, "flow_m3h": 1000.0, "data_flag": 5.0 if i < 15 else 0.0}}
        for i in range(60)
    ]  # fmt: skip
    topic = f"{settings.mqtt.topic_root}/tianfu-np/e08-anode/emissions/e08-stack-1"
    publisher.publish(topic, orjson.dumps(minutes))
    wait_until(lambda: collector.stats.stored_readings >= 60, 30, "the hour stored")
    assert _jobs(park, store).cems_hourly(hour, hour + timedelta(hours=1)) == 1
    [series] = store.query(
        "SELECT valid_minutes, nox_mg_m3_corrected, nox_mg_m3_exceeded FROM cems_hourly"
    )
    [[_, valid, mean, exceeded]] = series.values
    assert (valid, exceeded) == (45, False) and mean == pytest.approx(20.0)


def test_quota_and_mu_average_jobs_read_the_stored_daily_kpis(
    park: Registry, store: Influx1Store
) -> None:
    lines = []
    for i in range(15):
        ts = int((datetime(2026, 11, 1, tzinfo=CST) + timedelta(days=i)).timestamp() * 1000)
        for scope, tce in (("e08-anode", 100.0), ("e09-anode", 40.0), ("_park", 140.0)):
            lines.append(
                encode_point(
                    "kpi",
                    {"park": "tianfu-np", "scope": scope, "window": "1d"},
                    {
                        "energy_tce": tce,
                        "energy_excl_renewables_tce": tce,
                        "energy_equal_value_tce": tce * 2,
                    },
                    ts,
                )
            )
    # e08's stacks emitted 0.5 kg SO2 + 2 kg NOx and 1.5 kg NOx an hour for 10 hours
    for h in range(10):
        ts = int((datetime(2026, 11, 3, tzinfo=CST) + timedelta(hours=h)).timestamp() * 1000)
        for sensor, so2, nox in (("e08-stack-1", 0.5, 2.0), ("e08-stack-2", 0.0, 1.5)):
            tags = {"park": "tianfu-np", "enterprise": "e08-anode", "sensor": sensor}
            lines.append(encode_point("cems_hourly", tags, {"so2_kg": so2, "nox_kg": nox}, ts))
    store.write("\n".join(lines).encode())
    example = load_config(ROOT / "examples" / "processing.yaml")
    jobs = Jobs(
        registry=park,
        park_id="tianfu-np",
        config=example,
        coefficients=COEF,
        store=store,
        clock=SystemClock(),
    )
    quota = {r["enterprise"]: r for r in jobs.quota(date(2026, 11, 15)).to_dicts()}
    e08, e09 = quota["e08-anode"], quota["e09-anode"]
    assert (
        e08["used_tce"] == 1_500 and e08["forecast_tce"] == 3_000 and e08["forecast_breach"]
    )  # quota 2,600
    assert e09["forecast_tce"] == 1_200 and not e09["forecast_breach"]  # quota 1,350
    # issue 25, item 13: a quota point names the total it burns, its basis and factors
    [series] = store.query("SELECT used_tce FROM quota WHERE enterprise = 'e08-anode' GROUP BY *")
    assert {k: v for k, v in series.tags.items() if k not in ("park", "enterprise")} == {
        "quota_total": "energy_excl_renewables_tce", "factor_set": "cn",
        "energy_basis": "electricity_equivalent", "gas_factor": "natural_gas",
        "steam_factor": "steam_low_pressure", "certificates_in_quota": "true",
    }  # fmt: skip
    graded = jobs.muju(2026)
    assert graded.height == 3  # the three enterprises that declared 2026 figures
    # Three enterprises are fewer than the four quotas need: scores and ranks, no grades.
    assert graded["grade"].to_list() == [None, None, None]
    assert graded["rank"].to_list() == [1, 2, 3]
    assert (
        graded.filter(pl.col("enterprise") == "e08-anode")["energy_tce"].item() == 3_000
    )  # 等价值, the 15 days of 2026 stored
    pollutant = dict(zip(graded["enterprise"], graded["pollutant_t"], strict=True))
    assert pollutant["e08-anode"] == pytest.approx(0.04)  # (5 + 20 + 15) kg measured
    assert pollutant["e05-api"] == 0.0  # its stacks reported nothing in 2026
    # A declared figure (the discharge-permit report's) is taken over the measured one.
    permit = [d.model_copy(update={"pollutant_t": 12.0}) if d.enterprise == "e05-api" else d
              for d in example.declared]  # fmt: skip
    jobs.config = example.model_copy(update={"declared": permit})
    declared = jobs.muju(2026)
    assert declared.filter(pl.col("enterprise") == "e05-api")["pollutant_t"].item() == 12.0
    jobs.config = example
    [series] = store.query("SELECT score, rank, grade, evaluated FROM muju GROUP BY period")
    assert series.tags == {"period": "year"}
    assert {(v[3], v[4]) for v in series.values} == {("-", "2026")}  # rerun: overwritten
    assert len(series.values) == 3
    [series] = store.query("SELECT score FROM muju GROUP BY energy_basis, factor_set")
    assert series.tags == {"energy_basis": "electricity_equal_value", "factor_set": "cn"}

    # An interim view through November compares the same months: e08 and e09 declare
    # each month (revenue 200 M and 100 M a month); the others only a year, so are left out.
    monthly = [
        Declared(enterprise=e, year=2026, month=m, revenue_cny=r, tax_cny=r / 20,
                 added_value_cny=r / 4, rd_cny=r / 50, local_score=80)
        for e, r in (("e08-anode", 2e8), ("e09-anode", 1e8))
        for m in range(1, 12)
    ]  # fmt: skip
    interim = Jobs(
        registry=park, park_id="tianfu-np", clock=SystemClock(), store=store,
        coefficients=COEF,
        config=example.model_copy(update={"declared": [*example.declared, *monthly],
                                          "muju": example.muju.model_copy(update={"min_enterprises": 2})}),
    ).muju(2026, through_month=11)  # fmt: skip
    rows = {r["enterprise"]: r for r in interim.iter_rows(named=True)}
    assert set(rows) == {"e08-anode", "e09-anode"}
    # annualised to compare with the annual benchmarks (issue 25, item 7): x 12 / 11
    assert rows["e08-anode"]["revenue_cny"] == pytest.approx(12 * 2e8)
    assert rows["e08-anode"]["energy_tce"] == pytest.approx(3_000 * 12 / 11)
    assert rows["e09-anode"]["energy_tce"] == pytest.approx(1_200 * 12 / 11)
    assert rows["e08-anode"]["annualised_from_months"] == 11
    assert rows["e08-anode"]["revenue_per_tce"] == pytest.approx(11 * 2e8 / 3_000)


def test_carbon_budgets_burn_like_quotas_on_the_stated_method_for_enterprises_and_the_park(
    park: Registry, store: Influx1Store
) -> None:
    lines = []
    for i in range(15):  # 1-15 November 2026, local days
        ts = int((datetime(2026, 11, 1, tzinfo=CST) + timedelta(days=i)).timestamp() * 1000)
        for scope, location, market in (("e08-anode", 40.0, 30.0), ("_park", 60.0, 45.0)):
            lines.append(
                encode_point(
                    "kpi",
                    {"park": "tianfu-np", "scope": scope, "window": "1d"},
                    {"co2_location_t": location, "co2_market_t": market},
                    ts,
                )
            )
    store.write("\n".join(lines).encode())
    budgets = CarbonBudgets(method="market", t_month={"e08-anode": 800, "_park": 1_500})
    jobs = Jobs(
        registry=park, park_id="tianfu-np", store=store, coefficients=COEF, clock=SystemClock(),
        config=CONFIG.model_copy(update={"carbon_budgets": budgets}),
    )  # fmt: skip
    rows = {r["enterprise"]: r for r in jobs.carbon_budget(date(2026, 11, 15)).to_dicts()}
    e08, whole = rows["e08-anode"], rows["_park"]
    # Market-based: 15 days x 30 t = 450 t of 800, at this pace 900 t by the 30th.
    assert e08["used_co2_t"] == 450 and e08["forecast_co2_t"] == 900
    assert e08["forecast_breach"] and not e08["breached"] and e08["used_pct"] == 56.25
    assert whole["used_co2_t"] == 675 and whole["forecast_co2_t"] == 1_350
    assert not whole["forecast_breach"]
    series = store.query(
        "SELECT used_co2_t, budget_co2_t, forecast_co2_t FROM carbon_budget "
        "GROUP BY scope, co2_method, co2_factor, factor_set"
    )
    stored = {s.tags["scope"]: (s.tags, s.values[0][1:]) for s in series}
    tags, values = stored["_park"]
    assert values == [675, 1_500, 1_350]
    assert tags == {"scope": "_park", "co2_method": "market",
                    "co2_factor": COEF.residual_factor, "factor_set": "cn"}  # fmt: skip
    # Location-based, the same days burn 40 t a day: 600 t, forecast 1,200 t.
    location = jobs.config.model_copy(
        update={"carbon_budgets": budgets.model_copy(update={"method": "location"})}
    )
    jobs.config = location
    assert jobs.carbon_budget(date(2026, 11, 15))["used_co2_t"].to_list() == [675 * 60 / 45, 600]
    # Nothing configured, nothing written.
    jobs.config = CONFIG
    assert jobs.carbon_budget(date(2026, 11, 15)).height == 0


def test_a_failing_job_is_counted_and_retried_never_skipped(
    park: Registry, store: Influx1Store
) -> None:
    schedule = Schedule(_jobs(park, store, ManualClock()))
    calls = []

    def broken() -> None:
        calls.append(1)
        raise RuntimeError("store down")

    schedule.guarded("rollup", broken)()
    stats = schedule.jobs.stats
    assert calls == [1] and stats.failures["rollup"] == 1 and stats.retries["rollup"] == 1
    retry = schedule.scheduler.get_job("rollup-retry")
    assert retry is not None
    schedule.scheduler.start(paused=True)  # jobs take their settings when the scheduler starts
    try:
        jobs = schedule.scheduler.get_jobs()
        assert {j.id for j in jobs} >= {"hourly", "daily", "monthly", "stale", "rollup-retry"}
        assert all(
            j.coalesce and j.max_instances == 1 and j.misfire_grace_time == 3600 for j in jobs
        )
        hourly = schedule.scheduler.get_job("hourly")
        assert (hourly.next_run_time.minute, str(hourly.next_run_time.tzinfo)) == (
            5,
            "Asia/Shanghai",
        )
    finally:
        schedule.stop()


def test_hours_add_up_to_the_day_across_a_gap_longer_than_the_lookback(
    park: Registry, store: Influx1Store
) -> None:
    """e04-grid-1 (x40) silent from 10:40 to 11:25: the 9 register units of the gap
    (360 kWh) land in the 11:00 hour, flagged gap, and the hours add up to the day and to
    the register difference, though the gap is longer than the 15-minute lookback."""
    day = datetime(2026, 11, 4, tzinfo=CST)
    # one reading past 12:00 (12:01): a roll-up counts complete minutes only, up to the
    # store's newest reading, as the stream's open windows do
    minutes = [m for m in range(10 * 60, 12 * 60 + 2) if not 10 * 60 + 40 < m < 11 * 60 + 25]
    lines = [
        encode_point(
            "electricity",
            {"park": "tianfu-np", "enterprise": "e04-cannery", "sensor": "e04-grid-1"},
            {"energy_kwh": 1_000.0 + 0.2 * (m - 600)},
            int((day + timedelta(minutes=m)).timestamp() * 1000),
        )
        for m in minutes
    ]
    store.write("\n".join(lines).encode())
    jobs = _jobs(park, store)
    jobs.rollup("1h", day, day + timedelta(days=1))
    jobs.rollup("1d", day, day + timedelta(days=1))
    query = Select(
        "sensor_use", ["grid_kwh", "flags"], tags={"sensor": "e04-grid-1"}, group_by_tags=["window"]
    )
    use = {s.tags["window"]: [(int(v[0]), v[1], v[2]) for v in s.values]
           for s in store.query(query.to_influxql())}  # fmt: skip
    hours = {t: kwh for t, kwh, _f in use["1h"]}
    eleven = int((day + timedelta(hours=11)).timestamp() * 1000)
    # readings 11:25-11:59 belong to the 11:00 hour: the 45-minute gap from 10:40 and 34
    # one-minute steps, 79 x 0.2 register units x 40 (each interval goes to its later reading)
    assert hours[eleven] == pytest.approx(79 * 0.2 * 40)
    assert next(f for t, _k, f in use["1h"] if t == eleven) & 1  # flagged gap
    total = (0.2 * 120) * 40  # 10:00 -> 12:00 register difference x multiplier
    assert sum(hours.values()) == pytest.approx(total)
    assert use["1d"][0][1] == pytest.approx(total)


def test_a_meter_silent_for_weeks_keeps_its_delta_in_the_roll_up(
    park: Registry, store: Influx1Store
) -> None:
    """Issue 25, item 4: e04-grid-1 (x40) read 1,000.0 on 1 October and 1,000.5 on
    14 October, then nothing until 1,090.5 at 09:00 on 4 November (21 days later): the
    day's roll-up holds the 90 register units (3,600 kWh), flagged gap, as the stream
    (which keeps each meter's last reading) would; the search used to stop at 7 days."""
    day = datetime(2026, 11, 4, tzinfo=CST)
    readings = [(datetime(2026, 10, 1, 9, tzinfo=CST), 1_000.0),
                (datetime(2026, 10, 14, 9, tzinfo=CST), 1_000.5),
                (day + timedelta(hours=9), 1_090.5),
                # a later reading: roll-ups count complete minutes only (the newest's is not)
                (day + timedelta(hours=9, minutes=2), 1_090.5)]  # fmt: skip
    lines = [
        encode_point(
            "electricity",
            {"park": "tianfu-np", "enterprise": "e04-cannery", "sensor": "e04-grid-1"},
            {"energy_kwh": value},
            int(ts.timestamp() * 1000),
        )
        for ts, value in readings
    ]
    store.write("\n".join(lines).encode())
    _jobs(park, store).rollup("1d", day, day + timedelta(days=1))
    query = Select("sensor_use", ["grid_kwh", "flags"], tags={"sensor": "e04-grid-1"})
    [series] = store.query(query.to_influxql())
    [[_ts, kwh, flags]] = series.values
    assert kwh == pytest.approx(90 * 40) and flags & 1


def test_completeness_counts_each_sensor_against_its_own_reporting_interval(
    store: Influx1Store,
) -> None:
    """Issue 25, item 5: a 15-minute utility meter (interval_s 900) with 86 of its 96
    readings is 89.6 % (incomplete), an hourly gas meter (3600) with 22 of 24 is 91.7 %;
    counted against one reading a minute they scored 6.0 % and 1.5 %."""
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    sensors = next(e for e in doc["parks"][0]["enterprises"] if e["id"] == "e04-cannery")["sensors"]
    by_id = {s["id"]: s for s in sensors}
    by_id["e04-grid-1"]["interval_s"], by_id["e04-gas-1"]["interval_s"] = 900, 3600
    registry = registry_mod.parse(doc)[0]
    assert registry is not None
    day = datetime(2026, 11, 4, tzinfo=CST)
    tags = {"park": "tianfu-np", "enterprise": "e04-cannery"}
    lines = [
        encode_point(kind, tags | {"sensor": sensor}, {fld: float(i)},
                     int((day + timedelta(seconds=i * step)).timestamp() * 1000))
        for kind, sensor, fld, step, n in (("electricity", "e04-grid-1", "energy_kwh", 900, 86),
                                           ("gas", "e04-gas-1", "volume_m3", 3600, 22))
        for i in range(n)
    ]  # fmt: skip
    store.write("\n".join(lines).encode())
    quality = _jobs(registry, store).completeness(day.date())
    got = {r["sensor"]: r for r in quality.iter_rows(named=True)}
    assert [(got[s]["readings"], got[s]["expected"], round(got[s]["completeness_pct"], 1),
             got[s]["complete"]) for s in ("e04-grid-1", "e04-gas-1")] == [
        (86, 96, 89.6, False), (22, 24, 91.7, True)
    ]  # fmt: skip
    assert got["e04-grid-2"]["expected"] == 1440  # the kind's default: a reading a minute
