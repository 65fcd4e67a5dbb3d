"""Counters to use, gauges to means, windows in the park's timezone (pure)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from processing.meters import (
    Flag,
    counter_use,
    time_weighted_mean,
    window_end,
    window_start,
    windowed,
)
from smartpark.sensorspec import SensorSpec

TZ = "Asia/Shanghai"
MIN = 60_000
T0 = 1_793_548_800_000  # 2026-11-02 00:00 Asia/Shanghai
METERS = pl.DataFrame({"sensor": ["m"], "multiplier": [80.0], "rollover": [999_999.99]})


def _use(values: list[tuple[int, float]]) -> list[tuple[int, float, int]]:
    readings = pl.DataFrame(
        {
            "sensor": ["m"] * len(values),
            "ts": [t for t, _ in values],
            "value": [v for _, v in values],
        }
    )
    out = counter_use(readings, METERS, max_gap_ms=5 * MIN)
    return [(r["ts"], round(r["use"], 6), r["flag"]) for r in out.to_dicts()]


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        pytest.param(
            [(0, 10.0), (MIN, 10.5), (2 * MIN, 11.5)],
            [(0, 0.0, Flag.FIRST), (MIN, 40.0, 0), (2 * MIN, 80.0, 0)],
            id="multiplier",
        ),
        pytest.param(
            [(0, 999_999.5), (MIN, 0.5)],
            [
                (0, 0.0, Flag.FIRST),
                (MIN, round((0.5 + 999_999.99 - 999_999.5) * 80, 6), Flag.ROLLOVER),
            ],
            id="rollover",
        ),
        pytest.param(
            [(0, 5_000.0), (MIN, 1.2), (2 * MIN, 1.7)],
            [(0, 0.0, Flag.FIRST), (MIN, 0.0, Flag.RESET), (2 * MIN, 40.0, 0)],
            id="reset-is-never-negative",
        ),
        pytest.param(
            [(0, 10.0), (MIN, 10.5), (MIN, 10.5), (2 * MIN, 11.0)],
            [(0, 0.0, Flag.FIRST), (MIN, 40.0, 0), (2 * MIN, 40.0, 0)],
            id="duplicate",
        ),
        pytest.param(
            [(2 * MIN, 11.0), (0, 10.0), (MIN, 10.5)],
            [(0, 0.0, Flag.FIRST), (MIN, 40.0, 0), (2 * MIN, 40.0, 0)],
            id="out-of-order",
        ),
        pytest.param(
            [(0, 10.0), (30 * MIN, 12.0)],
            [(0, 0.0, Flag.FIRST), (30 * MIN, 160.0, Flag.GAP)],
            id="gap-flagged-not-invented",
        ),
        pytest.param(
            [(0, 10.0), (MIN, 9.99)],
            [(0, 0.0, Flag.FIRST), (MIN, 0.0, Flag.RESET)],
            id="jitter-down",
        ),
    ],
)
def test_counter_edge_cases(
    readings: list[tuple[int, float]], expected: list[tuple[int, float, int]]
) -> None:
    assert _use(readings) == expected


def test_windows_are_local_days_and_calendar_months() -> None:
    ts = pl.Series(
        [
            T0 - 1,  # 2026-11-01 23:59:59.999 local (15:59 UTC)
            T0,  # 2026-11-02 00:00 local
            1_796_054_399_999,  # 2026-11-30 23:59:59.999 local
            1_796_054_400_000,  # 2026-12-01 00:00 local
        ]
    )
    frame = pl.DataFrame({"ts": ts})

    def local(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, ZoneInfo(TZ)).strftime("%Y-%m-%d %H:%M")

    days = frame.select(window_start(pl.col("ts"), window="1d", tz=TZ))["ts"].to_list()
    months = frame.select(window_start(pl.col("ts"), window="1mo", tz=TZ))["ts"].to_list()
    hours = frame.select(window_start(pl.col("ts"), window="1h", tz=TZ))["ts"].to_list()
    quarters = frame.select(window_start(pl.col("ts"), window="15m", tz=TZ))["ts"].to_list()
    assert [local(d) for d in days] == [
        "2026-11-01 00:00",
        "2026-11-02 00:00",
        "2026-11-30 00:00",
        "2026-12-01 00:00",
    ]
    assert [local(m) for m in months] == [
        "2026-11-01 00:00",
        "2026-11-01 00:00",
        "2026-11-01 00:00",
        "2026-12-01 00:00",
    ]
    assert [local(h) for h in hours][:2] == ["2026-11-01 23:00", "2026-11-02 00:00"]
    assert local(quarters[0]) == "2026-11-01 23:45"
    ends = frame.select(
        window_end(window_start(pl.col("ts"), window="1mo", tz=TZ), window="1mo", tz=TZ)
    )["ts"].to_list()
    assert [local(e) for e in ends] == ["2026-12-01 00:00"] * 3 + ["2027-01-01 00:00"]


def test_gauge_means_are_time_weighted_and_do_not_hold_across_gaps() -> None:
    readings = pl.DataFrame(
        {
            "sensor": ["g"] * 4,
            "ts": [0 + T0, 10 * MIN + T0, 15 * MIN + T0, 50 * MIN + T0],
            "value": [100.0, 200.0, 0.0, 50.0],
        }
    )
    out = time_weighted_mean(readings, window="1h", tz=TZ, max_gap_ms=15 * MIN).to_dicts()
    # 100 for 10 min, 200 for 5 min, 0 for 15 min (held at most 15), 50 for 10 min (to the hour end)
    assert out[0]["covered_ms"] == 40 * MIN
    assert out[0]["mean"] == pytest.approx((100 * 10 + 200 * 5 + 0 * 15 + 50 * 10) / 40)


# e01-grid-1: rated 900 kW, x80 (CT x PT), 1.5 x rated allowed: 0.28 register units/minute.
RATED = METERS.with_columns(max_per_ms=pl.lit(900 * 1.5 / 80 / 3_600_000))


def _rated(values: list[tuple[int, float]], meters: pl.DataFrame = RATED) -> list[tuple]:
    readings = pl.DataFrame(
        {
            "sensor": ["m"] * len(values),
            "ts": [t for t, _ in values],
            "value": [v for _, v in values],
        }
    )
    out = counter_use(readings, meters, max_gap_ms=5 * MIN)
    return [(r["ts"], round(r["use"], 6), r["flag"]) for r in out.to_dicts()]


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        pytest.param(  # was 0, then 40,000,040 kWh in one minute
            [(0, 500_000.0), (MIN, 0.0), (2 * MIN, 500_000.5)],
            [(0, 0.0, Flag.FIRST), (2 * MIN, 40.0, Flag.OUTLIER)],
            id="glitch-zero-is-excluded",
        ),
        pytest.param(  # was booked as a rollover and counted twice
            [(0, 500_000.0), (MIN, 999_990.0), (2 * MIN, 500_000.5)],
            [(0, 0.0, Flag.FIRST), (2 * MIN, 40.0, Flag.OUTLIER)],
            id="glitch-in-the-top-band-is-excluded",
        ),
        pytest.param(  # was 200,000 x 80 kWh, unflagged
            [(0, 500_000.0), (MIN, 700_000.0), (2 * MIN, 700_000.2)],
            [(0, 0.0, Flag.FIRST), (MIN, 0.0, Flag.RESET), (2 * MIN, 16.0, 0)],
            id="replacement-starting-higher-is-a-reset",
        ),
        pytest.param(
            [(0, 500_000.0), (MIN, 12.0), (2 * MIN, 12.2)],
            [(0, 0.0, Flag.FIRST), (MIN, 0.0, Flag.RESET), (2 * MIN, 16.0, 0)],
            id="replacement-starting-lower-is-a-reset",
        ),
        pytest.param(
            [(0, 999_999.9), (MIN, 0.1)],
            [
                (0, 0.0, Flag.FIRST),
                (MIN, 15.2, Flag.ROLLOVER),
            ],  # (0.1 + 999,999.99 - 999,999.9) x 80
            id="a-real-rollover-still-counts",
        ),
        pytest.param(  # 10 minutes apart at full load: plausible, kept, flagged gap
            [(0, 100.0), (10 * MIN, 102.5)],
            [(0, 0.0, Flag.FIRST), (10 * MIN, 200.0, Flag.GAP)],
            id="a-long-interval-allows-more",
        ),
    ],
)
def test_one_bad_register_reading_never_becomes_consumption(
    readings: list[tuple[int, float]], expected: list[tuple[int, float, int]]
) -> None:
    assert _rated(readings) == [(t, u, int(f)) for t, u, f in expected]


def test_an_unrated_meter_still_excludes_a_glitch_zero() -> None:
    assert _rated([(0, 500_000.0), (MIN, 0.0), (2 * MIN, 500_000.5)], METERS) == [
        (0, 0.0, int(Flag.FIRST)),
        (2 * MIN, 40.0, int(Flag.OUTLIER)),
    ]


DAY = 86_400_000


def _days(readings: list[tuple[int, float]], *, pro_rata: bool, window: str = "1d") -> dict:
    frame = pl.DataFrame(
        {"sensor": ["m"] * len(readings), "ts": [t for t, _ in readings],
         "value": [v for _, v in readings]}
    )  # fmt: skip
    use = windowed(counter_use(frame, METERS, max_gap_ms=5 * MIN), window=window, tz=TZ,
                   pro_rata=pro_rata)  # fmt: skip
    out = use.group_by("window").agg(pl.col("use").sum(), pl.col("reading").sum())
    return {r["window"]: (round(r["use"], 6), r["reading"]) for r in out.to_dicts()}


def test_pro_rata_days_are_the_midnight_to_midnight_register_difference() -> None:
    """15-minute utility data with the daily freeze at 00:00, x80: the register goes up
    0.25 a quarter-hour, 0.5 from 20:00, so 28.00 a day: 1,000.00 at 00:00 on the 2nd,
    1,028.00 on the 3rd, 1,056.00 on the 4th. Pro rata, each day holds 28 x 80 = 2,240
    kWh, its midnight-to-midnight register difference; by the later reading the
    23:45-00:00 quarter (0.5 x 80 = 40 kWh) lands on the next day, whose window holds
    its 00:00 reading: the 2nd gets 2,200 and the 4th 40."""
    readings, value = [], 1_000.0
    for q in range(2 * 96 + 1):
        readings.append((T0 + q * 15 * MIN, round(value, 6)))
        value += 0.5 if (q % 96) >= 80 else 0.25
    assert readings[96][1] == 1_028.0 and readings[192][1] == 1_056.0
    pro = _days(readings, pro_rata=True)
    later = _days(readings, pro_rata=False)
    assert pro[T0][0] == 2_240 and pro[T0 + DAY][0] == 2_240
    assert later[T0][0] == 2_200 and later[T0 + DAY][0] == 2_240
    assert later[T0 + 2 * DAY][0] == 40  # the 4th's window holds the 3rd's last quarter
    assert sum(u for u, _ in pro.values()) == sum(u for u, _ in later.values())
    # Every reading is counted once, in the day its timestamp is in.
    assert {w: n for w, (_, n) in pro.items()} == {T0: 96, T0 + DAY: 96, T0 + 2 * DAY: 1}


def test_pro_rata_interpolates_midnight_and_spreads_a_gap_by_time() -> None:
    """Readings at 23:50 and 00:10 (+2.0 x 80 = 160 kWh): 10 of the interval's 20
    minutes are before midnight, so 80 kWh go to each day. A 3-hour gap (00:10 to 03:10, +3.0 = 240 kWh) is spread 50/60/60/60/10 minutes over the
    hours it spans, flagged as a gap in each."""
    readings = [(T0 - 10 * MIN, 50.0), (T0 + 10 * MIN, 52.0), (T0 + 190 * MIN, 55.0)]
    days = _days(readings, pro_rata=True)
    assert days[T0 - DAY][0] == 80 and days[T0][0] == 80 + 240
    frame = pl.DataFrame({"sensor": ["m"] * 3, "ts": [t for t, _ in readings],
                          "value": [v for _, v in readings]})  # fmt: skip
    hours = windowed(counter_use(frame, METERS, max_gap_ms=5 * MIN), window="1h", tz=TZ,
                     pro_rata=True)  # fmt: skip
    gap = (
        hours.filter(pl.col("window") >= T0)
        .group_by("window")
        .agg(pl.col("use").sum(), pl.col("flag").bitwise_or())
        .sort("window")
    )
    assert gap["use"].to_list() == pytest.approx([80 + 240 * 50 / 180, 80, 80, 240 * 10 / 180])
    assert [w - T0 for w in gap["window"]] == [0, 3_600_000, 7_200_000, 10_800_000]
    assert all(f & Flag.GAP for f in gap["flag"].to_list()[1:])


# -- issue 25, items 2 and 3: the register's true modulus; wraps confirmed -------------


@pytest.mark.parametrize(
    ("rollover", "resolution", "modulus"),
    [
        (999_999.99, None, 1_000_000.00),  # 6+2 digits: the last digit is 0.01
        (99_999_999.0, None, 100_000_000.0),
        (9_999.9, None, 10_000.0),
        (999_999.99, 0.05, 1_000_000.04),  # a register that steps by 0.05
    ],
)
def test_a_register_wraps_at_its_largest_value_plus_its_last_digit(
    rollover: float, resolution: float | None, modulus: float
) -> None:
    spec = SensorSpec(id="m", kind="electricity", rollover=rollover, resolution=resolution)
    assert spec.modulus() == pytest.approx(modulus)


def test_a_rollover_loses_no_digit() -> None:
    """999,998.00 -> 0.49 on a x50 meter: (0.49 + 1,000,000.00 - 999,998.00) x 50 = 124.5
    kWh (wrapping at 999,999.99 gave 124.0)."""
    spec = SensorSpec(id="m", kind="electricity", multiplier=50, rollover=999_999.99)
    meters = pl.DataFrame({"sensor": ["m"], "multiplier": [50.0], "rollover": [spec.modulus()]})
    assert _rated([(0, 999_998.00), (MIN, 0.49)], meters) == [
        (0, 0.0, int(Flag.FIRST)),
        (MIN, 124.5, int(Flag.ROLLOVER)),
    ]


X50 = pl.DataFrame({"sensor": ["m"], "multiplier": [50.0], "rollover": [1_000_000.0]})


@pytest.mark.parametrize(
    ("meters", "readings", "expected"),
    [
        # a glitch 0 with the register in its top 10 %, on a meter without a rating: was
        # booked as a wrap, then the next reading as a rise of 999,992.5 (50,000,124.5
        # kWh); now the next reading going on from 999,990 shows the "wrap" was a glitch
        pytest.param(
            X50, [(0, 999_990.0), (MIN, 0.0), (2 * MIN, 999_992.5)],
            [(0, 0.0, Flag.FIRST), (2 * MIN, 125.0, Flag.OUTLIER)], id="unrated-glitch-zero",
        ),
        # the same with a rating (1,000 kW x 1.5 / 50 = 0.5 register units a minute)
        pytest.param(
            X50.with_columns(max_per_ms=pl.lit(1_000 * 1.5 / 50 / 3_600_000)),
            [(0, 999_999.8), (MIN, 0.0), (2 * MIN, 999_999.9)],
            [(0, 0.0, Flag.FIRST), (2 * MIN, 5.0, Flag.OUTLIER)], id="rated-glitch-zero",
        ),
        # a real wrap: the next reading goes on from the new level, the wrap stands
        pytest.param(
            X50, [(0, 999_999.5), (MIN, 0.3), (2 * MIN, 0.8)],
            [(0, 0.0, Flag.FIRST), (MIN, 40.0, Flag.ROLLOVER), (2 * MIN, 25.0, 0)],
            id="real-wrap-confirmed",
        ),
        # a wrap as the newest reading stands until the next one says otherwise
        pytest.param(
            X50, [(0, 999_999.5), (MIN, 0.3)],
            [(0, 0.0, Flag.FIRST), (MIN, 40.0, Flag.ROLLOVER)], id="wrap-not-yet-confirmed",
        ),
    ],
)  # fmt: skip
def test_a_wrap_is_confirmed_by_the_next_reading(
    meters: pl.DataFrame,
    readings: list[tuple[int, float]],
    expected: list[tuple[int, float, int]],
) -> None:
    assert _rated(readings, meters) == [(t, u, int(f)) for t, u, f in expected]
