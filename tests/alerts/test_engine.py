"""Each rule type fires and clears at the right moments (pure, no servers)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alerts.engine import Condition, Engine
from alerts.rules import parse
from smartpark.model import SensorRef
from smartpark.registry import Registry
from smartpark.wire import KpiUpdate

CST = timezone(timedelta(hours=8))
T0 = int(datetime(2026, 11, 4, 9, tzinfo=CST).timestamp() * 1000)
MIN = 60_000
GRID = SensorRef("tianfu-np", "e08-anode", "electricity", "e08-grid-1")
STACK = SensorRef("tianfu-np", "e08-anode", "emissions", "e08-stack-1")


def _engine(park: Registry, *rules: dict) -> Engine:
    return Engine(parse({"rules": list(rules)}).rules, park)


def _feed(
    engine: Engine, ref: SensorRef, values: list[tuple[int, dict[str, float]]]
) -> list[tuple[int, bool]]:
    out: list[Condition] = []
    for ts, v in values:
        out += engine.reading(ref, ts, v, ts)
    return [(c.at_ms - T0, c.raised) for c in out]


THRESHOLD = {
    "id": "grid-high",
    "type": "threshold",
    "field": "power_kw",
    "above": 7000,
    "clear": 6500,
    "for_s": 120,
}


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        # breach must last for_s (120 s) between readings' timestamps
        ([7100, 7100, 7100, 7100], [(2 * MIN, True)]),
        ([7100, 7100, 6900, 7100, 7100, 7100], [(5 * MIN, True)]),  # a dip resets the clock
        ([7000, 7000, 7000], []),  # equal to the limit is not above it
        # hysteresis: stays firing between 6500 and 7000, clears at 6500
        ([7100, 7100, 7100, 6800, 6600, 6500, 7100], [(2 * MIN, True), (5 * MIN, False)]),
    ],
)
def test_threshold_for_duration_and_hysteresis(
    park: Registry, series: list[float], expected: list[tuple[int, bool]]
) -> None:
    engine = _engine(park, THRESHOLD)
    assert (
        _feed(engine, GRID, [(T0 + i * MIN, {"power_kw": v}) for i, v in enumerate(series)])
        == expected
    )


def test_threshold_below_with_scope_and_late_readings_ignored(park: Registry) -> None:
    rule = {
        "id": "o2-low",
        "type": "threshold",
        "field": "o2_pct",
        "below": 3.0,
        "scope": {"enterprises": ["e08-anode"]},
    }
    engine = _engine(park, rule)
    other = SensorRef("tianfu-np", "e09-anode", "emissions", "e09-stack-1")
    assert _feed(engine, other, [(T0, {"o2_pct": 1.0})]) == []  # out of scope
    got = _feed(
        engine,
        STACK,
        [(T0, {"o2_pct": 2.0}), (T0 - MIN, {"o2_pct": 5.0}), (T0 + MIN, {"o2_pct": 4.0})],
    )
    assert got == [(0, True), (MIN, False)]  # the older reading decided nothing


def test_rate_of_change_and_counter_reset(park: Registry) -> None:
    """e08-grid-1 (x200, 8,000 kW rated: at most 1.0 register unit a minute at 1.5 x).
    A wrap is no reset; a single glitch zero is dropped; a replacement meter starting
    higher and a reset to near zero fire once each, when the next reading confirms them."""
    engine = _engine(
        park,
        {"id": "spike", "type": "rate_of_change", "field": "power_kw", "max_per_min": 2000},
        {"id": "reset", "type": "counter_reset", "field": "energy_kwh"},
    )
    values = [
        {"power_kw": 5000, "energy_kwh": 999_999.0},
        {"power_kw": 5100, "energy_kwh": 999_999.5},
        {"power_kw": 9000, "energy_kwh": 0.3},  # spike; register wraps: not a reset
        {"power_kw": 9100, "energy_kwh": 0.8},
        {"power_kw": 9000, "energy_kwh": 0.0},  # a Modbus glitch ...
        {"power_kw": 9000, "energy_kwh": 1.3},  # ... the next reading goes on from 0.8
        {"power_kw": 9000, "energy_kwh": 900.0},  # a replacement meter starting higher
        {"power_kw": 9000, "energy_kwh": 900.4},  # confirms it
        {"power_kw": 9000, "energy_kwh": 3.0},  # reset to near zero
        {"power_kw": 9000, "energy_kwh": 3.5},  # confirms it
    ]
    out: list[Condition] = []
    for i, v in enumerate(values):
        out += engine.reading(GRID, T0 + i * MIN, v, T0 + i * MIN)
    assert [(c.rule, (c.at_ms - T0) // MIN, c.raised) for c in out] == [
        ("spike", 2, True),
        ("spike", 3, False),
        ("reset", 6, True),
        ("reset", 7, False),
        ("reset", 8, True),
        ("reset", 9, False),
    ]


def test_counter_reset_ignores_the_glitches_the_kpis_exclude(park: Registry) -> None:
    """The issue's x80 meter (e01-grid-1, 900 kW rated: 0.28 register units a minute): a
    glitch zero between 500,000 and 500,000.5, and a glitch into the bottom band from the
    register's top band (no wrap: it would be 55 units in a minute), fire nothing."""
    meter = SensorRef("tianfu-np", "e01-baijiu", "electricity", "e01-grid-1")
    rule = {"id": "reset", "type": "counter_reset", "field": "energy_kwh"}
    for registers in (
        [500_000.0, 0.0, 500_000.5],
        [999_950.0, 5.0, 999_950.3],
        # a plausible "wrap" to 0 (0.01 units from 999,999.99) the next reading undoes
        # (issue 25, item 2): a glitch, not a wrap followed by a replacement meter
        [999_999.99, 0.0, 999_999.99, 1_000_000.0 - 0.005],
    ):
        engine = _engine(park, rule)
        out: list[Condition] = []
        for i, register in enumerate(registers):
            out += engine.reading(meter, T0 + i * MIN, {"energy_kwh": register}, T0 + i * MIN)
        assert out == [], registers
        # and the glitch is not the new baseline: a real reset after it still fires
        out += engine.reading(meter, T0 + 5 * MIN, {"energy_kwh": 2.0}, T0 + 5 * MIN)
        out += engine.reading(meter, T0 + 6 * MIN, {"energy_kwh": 2.2}, T0 + 6 * MIN)
        assert [(c.raised, c.value) for c in out] == [(True, 2.0), (False, 2.2)], registers


def test_no_data_fires_after_silence_and_clears_when_the_sensor_sends(park: Registry) -> None:
    engine = _engine(
        park,
        {"id": "silent", "type": "no_data", "after_s": 900, "scope": {"sensors": ["e08-grid-1"]}},
    )
    assert engine.tick(T0) == []  # the clock starts for every sensor
    engine.reading(GRID, T0 + 5 * MIN, {"power_kw": 1.0}, T0 + 5 * MIN)
    assert engine.tick(T0 + 19 * MIN) == []
    fired = engine.tick(T0 + 20 * MIN)
    assert [(c.subject, c.raised) for c in fired] == [("e08-grid-1", True)]
    assert engine.tick(T0 + 25 * MIN) == []  # once
    back = engine.reading(GRID, T0 + 26 * MIN, {"power_kw": 1.0}, T0 + 26 * MIN)
    assert [(c.subject, c.raised) for c in back] == [("e08-grid-1", False)]


def _stack_minute(nox: float, o2: float = 3.5) -> dict[str, float]:
    return {"o2_pct": o2, "nox_mg_m3": nox, "so2_mg_m3": 1.0, "pm_mg_m3": 2.0, "flow_m3h": 1000.0}


def test_cems_hourly_mean_fires_at_the_end_of_the_hour_not_on_a_minute(park: Registry) -> None:
    engine = _engine(park, {"id": "cems", "type": "cems_hourly", "pollutants": ["nox_mg_m3"]})
    out: list[Condition] = []
    # 09:00 hour: 30 minutes at 60 (twice the 30 mg/m3 limit), 30 at 10: mean 35 -> exceeded.
    for i in range(60):
        out += engine.reading(
            STACK, T0 + i * MIN, _stack_minute(60 if i < 30 else 10), T0 + i * MIN
        )
    assert out == []  # minutes over the limit are not an exceedance by themselves
    # 10:00 hour: 45 minutes at 60 and 15 at 0 -> 45 over; 11:00 hour compliant.
    for i in range(60, 180):
        nox = 20.0 if i >= 120 else (60.0 if i < 105 else 0.0)
        out += engine.reading(STACK, T0 + i * MIN, _stack_minute(nox), T0 + i * MIN)
    out += engine.tick(T0 + 3 * 3_600_000 + 6 * MIN)  # the stack went quiet after 11:59
    assert [((c.at_ms - T0) // 3_600_000, c.raised, round(c.value or 0, 1)) for c in out] == [
        (1, True, 35.0),
        (3, False, 20.0),
    ]
    assert out[0].subject == "e08-stack-1/nox_mg_m3" and out[0].limit == 30


def test_the_rule_ignores_minutes_the_analyser_flagged(park: Registry) -> None:
    """15 calibration minutes at 500 mg/m3 (flag 5, C) and 45 normal ones at 20: the
    hour's mean is 20 and nothing fires; the job computes the same (tests/smartpark)."""
    engine = _engine(park, {"id": "cems", "type": "cems_hourly", "pollutants": ["nox_mg_m3"]})
    out: list[Condition] = []
    for i in range(60):
        minute = _stack_minute(500.0 if i < 15 else 20.0) | {"data_flag": 5.0 if i < 15 else 0.0}
        out += engine.reading(STACK, T0 + i * MIN, minute, T0 + i * MIN)
    out += engine.tick(T0 + 3_600_000 + 6 * MIN)
    assert out == []
    # the same minutes unflagged: an exceedance (mean 140)
    engine = _engine(park, {"id": "cems", "type": "cems_hourly", "pollutants": ["nox_mg_m3"]})
    for i in range(60):
        out += engine.reading(
            STACK, T0 + i * MIN, _stack_minute(500.0 if i < 15 else 20.0), T0 + i * MIN
        )
    out += engine.tick(T0 + 3_600_000 + 6 * MIN)
    assert [(c.raised, round(c.value or 0, 1)) for c in out] == [(True, 140.0)]


def test_a_stopped_boiler_hour_is_invalid_and_changes_nothing(park: Registry) -> None:
    engine = _engine(park, {"id": "cems", "type": "cems_hourly"})
    out: list[Condition] = []
    for i in range(120):
        out += engine.reading(
            STACK,
            T0 + i * MIN,
            _stack_minute(0.3 if i >= 60 else 80, 20.8 if i >= 60 else 3.5),
            T0 + i * MIN,
        )
    out += engine.tick(T0 + 3 * 3_600_000)
    assert [(c.raised, c.subject) for c in out] == [
        (True, "e08-stack-1/nox_mg_m3")
    ]  # no clear on air


def test_quota_forecast_fires_early_in_the_month(park: Registry) -> None:
    engine = _engine(
        park, {"id": "quota", "type": "quota_forecast", "quotas_tce_month": {"e08-anode": 2600}}
    )
    day0 = int(datetime(2026, 11, 1, tzinfo=CST).timestamp() * 1000)
    fired = []
    for d in range(20):
        energy = 80.0 if d < 9 else 100.0
        fired += engine.kpi(
            _update("e08-anode", "1d", day0 + d * 86_400_000, {"energy_tce": energy})
        )
    # Through the 13th: 9 x 80 + 4 x 100 = 1,120 tce, / 13 x 30 = 2,585 (within 2,600);
    # through the 14th: 1,220 / 14 x 30 = 2,614: fires when the 14th's KPI comes in.
    days = [datetime.fromtimestamp((c.at_ms - 1) / 1000, CST).day for c in fired]
    assert days == [14] and fired[0].raised
    assert fired[0].value == pytest.approx(1_220 / 14 * 30)


def test_carbon_budget_forecast_burns_the_stated_co2_for_the_park_too(park: Registry) -> None:
    engine = _engine(
        park,
        {"id": "budget", "type": "carbon_budget_forecast", "method": "market",
         "budgets_t_month": {"e08-anode": 800, "_park": 1_500}},
    )  # fmt: skip
    day0 = int(datetime(2026, 11, 1, tzinfo=CST).timestamp() * 1000)
    fired = []
    for d in range(10):
        for scope, market in (("e08-anode", 25.0 if d < 5 else 32.0), ("_park", 45.0)):
            # The location-based figure is higher: the rule burns the market-based one.
            values = {"co2_location_t": market * 2, "co2_market_t": market}
            fired += engine.kpi(_update(scope, "1d", day0 + d * 86_400_000, values))
    # e08 through the 7th: 5 x 25 + 2 x 32 = 189 t, / 7 x 30 = 810 > 800: fires on the 7th
    # (through the 6th, 157 / 6 x 30 = 785). The park, 45 t a day, forecasts 1,350 of 1,500.
    [raised] = fired
    assert raised.raised and raised.enterprise == "e08-anode"
    assert datetime.fromtimestamp((raised.at_ms - 1) / 1000, CST).day == 7
    assert raised.value == pytest.approx(189 / 7 * 30) and raised.limit == 800
    assert "carbon budget (market-based)" in raised.message and "tCO2" in raised.message


def _update(scope: str, window: str, start_ms: int, values: dict[str, float]) -> KpiUpdate:
    ends = {"1h": 3_600_000, "1d": 86_400_000}
    return KpiUpdate("tianfu-np", scope, window, start_ms, start_ms + ends[window], 0, values)


def test_kpi_target_month_to_date_is_energy_weighted(park: Registry) -> None:
    engine = _engine(
        park,
        {
            "id": "clean",
            "type": "kpi_target",
            "kpi": "clean_energy_share_pct",
            "below": 65,
            "scope": {"enterprises": ["_park"]},
        },
    )
    day0 = int(datetime(2026, 11, 1, tzinfo=CST).timestamp() * 1000)
    days = [(70.0, 100.0), (50.0, 300.0), (90.0, 1000.0)]  # month to date: 70, 55, 80
    out = []
    for d, (share, tce) in enumerate(days):
        out += engine.kpi(
            _update(
                "_park",
                "1d",
                day0 + d * 86_400_000,
                {"clean_energy_share_pct": share, "energy_tce": tce},
            )
        )
    assert [(c.raised, round(c.value or 0, 1)) for c in out] == [(True, 55.0), (False, 80.0)]


def test_kpi_threshold_on_its_window_only(park: Registry) -> None:
    engine = _engine(
        park,
        {
            "id": "co2",
            "type": "threshold",
            "source": "kpi",
            "window": "1h",
            "field": "co2_location_t",
            "above": 5,
        },
    )

    def upd(w, v, m):
        return _update("e08-anode", w, T0 + m * MIN, {"co2_location_t": v})

    assert engine.kpi(upd("1d", 50, 0)) == []
    assert [c.raised for c in engine.kpi(upd("1h", 6, 60))] == [True]


def test_bad_rules_are_refused_with_where_they_are_wrong() -> None:
    from smartpark.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        parse(
            {
                "rules": [
                    {"id": "a", "type": "threshold", "field": "power_kw", "above": 10, "below": 5},
                    {"id": "b", "type": "threshold", "field": "power_kw", "above": 10, "clear": 12},
                    {"id": "c", "type": "no_data"},
                    {"id": "d", "type": "telepathy"},
                    {
                        "id": "e",
                        "type": "threshold",
                        "source": "kpi",
                        "field": "energy_tce",
                        "above": 1,
                    },
                ]
            }
        )
    text = "\n".join(err.value.problems)
    assert "rules[0 id='a'].threshold: Value error, give exactly one of above or below" in text
    assert (
        "rules[1 id='b'].threshold: Value error, clear 12.0 is on the wrong side of the limit 10.0"
        in text
    )
    assert "rules[2 id='c'].no_data.after_s: Field required" in text
    assert "rules[3 id='d']: Input tag 'telepathy' found using 'type' does not match" in text
    assert "rules[4 id='e'].threshold: Value error, a KPI threshold needs its window" in text


def test_rate_of_change_ignores_second_by_second_noise_but_not_a_step(park: Registry) -> None:
    engine = _engine(
        park, {"id": "spike", "type": "rate_of_change", "field": "power_kw", "max_per_min": 3000}
    )
    noisy = [5000.0 + (40 if i % 2 else -40) for i in range(120)]  # 80 kW swings every second
    out: list[Condition] = []
    for i, v in enumerate(noisy):
        out += engine.reading(GRID, T0 + i * 1000, {"power_kw": v}, T0 + i * 1000)
    assert out == []
    for i in range(120, 130):  # a 5 MW step
        out += engine.reading(GRID, T0 + i * 1000, {"power_kw": 10_000.0}, T0 + i * 1000)
    assert [c.raised for c in out] == [True] and out[0].at_ms == T0 + 120_000


@pytest.mark.parametrize("delay_s", [30 * 86_400, 3_600])
def test_cems_hours_are_judged_on_their_own_minutes_however_late_they_arrive(
    park: Registry, delay_s: int
) -> None:
    """A replay of a past day (the wall clock a month ahead) or a gateway that delivers
    an hour late: each hour is judged when the stack's next hour starts, on all its
    minutes, however often the service ticks meanwhile."""
    engine = _engine(park, {"id": "cems", "type": "cems_hourly", "pollutants": ["nox_mg_m3"]})
    out: list[Condition] = []
    for i in range(180):
        nox = 20.0 if i >= 120 else (60.0 if i < 30 or 60 <= i < 105 else 10.0 if i < 60 else 0.0)
        now = T0 + i * MIN + delay_s * 1000
        out += engine.reading(STACK, T0 + i * MIN, _stack_minute(nox), now)
        out += engine.tick(now + 500)  # the service ticks between readings
    assert [((c.at_ms - T0) // 3_600_000, c.raised) for c in out] == [(1, True)]
    out += engine.tick(T0 + 179 * MIN + delay_s * 1000 + 4 * MIN)  # quiet, not for long
    assert len(out) == 1
    out += engine.tick(T0 + 180 * MIN + delay_s * 1000 + 6 * MIN)  # quiet past the grace
    assert [((c.at_ms - T0) // 3_600_000, c.raised, round(c.value or 0, 1)) for c in out] == [
        (1, True, 35.0),
        (3, False, 20.0),
    ]


def test_the_rule_counts_over_range_minutes_as_the_hourly_job_does(park: Registry) -> None:
    """50 minutes at 20 mg/m3 and 10 flagged T (over range) at the 250 mg/m3 ceiling, all
    at O2 3.5 %: the hour's mean is (50 x 20 + 10 x 250) / 60 = 58.3 over the 30 limit,
    not a compliant 20 (smartpark.cems.hourly, the job's function)."""
    engine = _engine(park, {"id": "cems", "type": "cems_hourly", "pollutants": ["nox_mg_m3"]})
    out: list[Condition] = []
    for i in range(60):
        minute = _stack_minute(250.0 if i >= 50 else 20.0) | {"data_flag": 6.0 if i >= 50 else 0.0}
        out += engine.reading(STACK, T0 + i * MIN, minute, T0 + i * MIN)
    out += engine.tick(T0 + 3_600_000 + 6 * MIN)
    assert [(c.raised, round(c.value or 0, 1)) for c in out] == [(True, 58.3)]
    assert "over range" in out[0].message


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"type": "threshold", "source": "kpi", "window": "1h", "field": "co2_t", "above": 1},
         "field: 'co2_t' is not a KPI field"),
        ({"type": "kpi_target", "kpi": "clean_share", "below": 65},
         "kpi: 'clean_share' is not a KPI field"),
        ({"type": "kpi_target", "kpi": "clean_energy_share_pct", "weight": "tce", "below": 65},
         "weight: 'tce' is not a KPI field"),
    ],
)  # fmt: skip
def test_a_kpi_rule_names_a_field_the_processor_writes(rule: dict, message: str) -> None:
    from smartpark.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        parse({"rules": [{"id": "r", **rule}]})
    assert message in "\n".join(err.value.problems)


def _revised(
    scope: str, start_ms: int, values: dict[str, float | bool], revision: int
) -> KpiUpdate:
    return KpiUpdate("tianfu-np", scope, "1d", start_ms, start_ms + 86_400_000, revision, values)


def test_a_breach_found_in_a_revised_closed_month_fires_once_in_event_time_marked_late(
    park: Registry,
) -> None:
    """The catch-up republishes a day of last month (late readings): last month is judged
    on its own figures as its own subject, once, at the end of its newest day."""
    engine = _engine(
        park, {"id": "quota", "type": "quota_forecast", "quotas_tce_month": {"e08-anode": 2600}}
    )
    oct1 = int(datetime(2026, 10, 1, tzinfo=CST).timestamp() * 1000)
    nov1 = int(datetime(2026, 11, 1, tzinfo=CST).timestamp() * 1000)
    day = 86_400_000
    out: list[tuple[str, bool, int, str]] = []

    def feed(update: KpiUpdate) -> None:
        out.extend((c.subject, c.raised, c.at_ms, c.message) for c in engine.kpi(update))

    for d in range(31):  # October: 31 x 80 = 2,480 tce, within 2,600
        feed(_update("e08-anode", "1d", oct1 + d * day, {"energy_tce": 80.0}))
    for d in range(5):  # November so far: 80 a day, forecast 2,400
        feed(_update("e08-anode", "1d", nov1 + d * day, {"energy_tce": 80.0}))
    assert out == []
    # Late readings: 20 October was 300 tce: October used 2,700 > 2,600
    feed(_revised("e08-anode", oct1 + 19 * day, {"energy_tce": 300.0}, revision=1))
    feed(_revised("e08-anode", oct1 + 19 * day, {"energy_tce": 300.0}, revision=1))  # again
    feed(_revised("e08-anode", oct1 + 20 * day, {"energy_tce": 90.0}, revision=1))  # still over
    feed(_revised("e08-anode", oct1 + 21 * day, {"energy_tce": 999.0, "provisional": True}, 2))
    feed(_update("e08-anode", "1d", nov1 + 5 * day, {"energy_tce": 80.0}))  # November untouched
    assert [(s, r, at) for s, r, at, _ in out] == [("e08-anode 2026-10", True, nov1)]
    assert "found late, in revised figures of 2026-10" in out[0][3]
    assert "2,700 tce used by day 31" in out[0][3]
    # A later revision brings October back within: that alert clears, in event time too.
    feed(_revised("e08-anode", oct1 + 19 * day, {"energy_tce": 80.0}, revision=2))
    feed(_revised("e08-anode", oct1 + 20 * day, {"energy_tce": 80.0}, revision=2))
    assert [(s, r, at) for s, r, at, _ in out[1:]] == [("e08-anode 2026-10", False, nov1)]


@pytest.mark.parametrize(
    ("starts_h", "expected"),
    [
        ([0, 1, 2], [("_park", True, 0), ("_park", False, 1)]),  # in order: one subject
        # hour 2 judged, then hour 0 revised off target: its own subject, not "_park"'s state
        ([2, 0], [("_park 2026-11-02 00:00", True, 0)]),
    ],
)
def test_a_revised_old_window_is_judged_as_its_own_subject(
    park: Registry, starts_h: list[int], expected: list[tuple[str, bool, int]]
) -> None:
    engine = _engine(
        park,
        {"id": "co2", "type": "kpi_target", "kpi": "co2_location_t_per_tce", "window": "1h",
         "period": "window", "above": 0.2, "scope": {"enterprises": ["_park"]}},
    )  # fmt: skip
    t0 = int(datetime(2026, 11, 2, tzinfo=CST).timestamp() * 1000)
    off = {0: 0.5, 1: 0.1, 2: 0.1}
    out = []
    for h in starts_h:
        update = _update("_park", "1h", t0 + h * 3_600_000, {"co2_location_t_per_tce": off[h]})
        out += [(c.subject, c.raised, (c.at_ms - t0) // 3_600_000) for c in engine.kpi(update)]
    assert out == expected


def test_the_reading_kinds_the_rules_look_at(park: Registry) -> None:
    quota = {"id": "q", "type": "quota_forecast", "quotas_tce_month": {"e08-anode": 2300}}
    on_kpis = {"id": "t", "type": "threshold", "source": "kpi", "window": "1h",
               "field": "energy_tce", "above": 5}  # fmt: skip
    stacks = {"id": "c", "type": "cems_hourly", "scope": {"kinds": ["emissions"]}}
    silent = {"id": "n", "type": "no_data", "after_s": 600,
              "scope": {"kinds": ["gas", "electricity"]}}  # fmt: skip
    grid = {"id": "g", "type": "threshold", "field": "power_kw", "above": 7500}
    assert _engine(park, quota, on_kpis).reading_kinds() == []
    assert _engine(park, quota, stacks).reading_kinds() == ["emissions"]
    assert _engine(park, stacks, silent).reading_kinds() == ["electricity", "emissions", "gas"]
    assert _engine(park, stacks, grid).reading_kinds() is None  # grid: every kind
