"""Declared amounts on partial periods and green power settled per month (pure tables)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from processing.allocate import allocations
from processing.config import Declared, GreenPower, ProcessingConfig, load_factor_set
from processing.config import coefficients as make_coefficients
from processing.engine import COLUMNS, Park, kpis
from processing.kpis import energy_carbon
from smartpark.registry import Registry

CST = timezone(timedelta(hours=8))
E08 = "e08-anode"
CONFIG = ProcessingConfig(
    green_power=[GreenPower(enterprise=E08, month="2026-11", kwh=30_000)],
    declared=[
        Declared(enterprise=E08, year=2026, added_value_cny=365e6),
        Declared(enterprise=E08, year=2026, month=11, added_value_cny=60e6),
    ],
)
COEF = make_coefficients(CONFIG, load_factor_set("cn"))


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=CST).timestamp() * 1000)  # type: ignore[misc]


def _totals(rows: list[tuple[int, float]]) -> pl.DataFrame:
    """e08's window totals: (window start, grid kWh)."""
    return pl.DataFrame(
        {
            "enterprise": [E08] * len(rows),
            "window": [w for w, _ in rows],
            **{c: [g if c == "grid_kwh" else 0.0 for _, g in rows] for c in COLUMNS},
            "readings": [1] * len(rows),
            "flags": [0] * len(rows),
        },
        schema_overrides={"window": pl.Int64},
    )


@pytest.fixture(scope="module")
def park(park: Registry) -> Park:
    return Park.from_registry(park, "tianfu-np", CONFIG)


@pytest.mark.parametrize(
    ("window", "start", "complete_to", "added_value_cny", "contract_to_date_kwh"),
    [
        # a whole day of November: 60 M / 30 days; the month's contract is the month's
        ("1d", ms(2026, 11, 4), None, 2e6, 30_000),
        # today up to 10:00: 10/24 of the day's; the contract up to 4 Nov 10:00
        ("1d", ms(2026, 11, 4), ms(2026, 11, 4, 10), 2e6 * 10 / 24, 30_000 * 82 / 720),
        # month to date on the 4th at 10:00: 3 days 10 h of 30 days, never the whole 60 M
        ("1mo", ms(2026, 11, 1), ms(2026, 11, 4, 10), 60e6 * 82 / 720, 30_000 * 82 / 720),
        # the whole month
        ("1mo", ms(2026, 11, 1), None, 60e6, 30_000),
        # a day of December: the year's rest, 305 M over the 335 undeclared days
        ("1d", ms(2026, 12, 1), ms(2026, 12, 1, 6), 305e6 / 335 * 6 / 24, 0),
        # month to date on 1 December at 00:01: one minute of December's share
        ("1mo", ms(2026, 12, 1), ms(2026, 12, 1, 0, 1), 305e6 / 335 / 1440, 0),
        # not begun yet (data complete to before the window): nothing
        ("1d", ms(2026, 11, 5), ms(2026, 11, 4, 10), 0.0, 30_000 * 82 / 720),
    ],
)
def test_a_partial_period_gets_the_pro_rated_part_of_what_was_declared(
    park: Park,
    window: str,
    start: int,
    complete_to: int | None,
    added_value_cny: float,
    contract_to_date_kwh: float,
) -> None:
    """The grid import is far above every contract here, so green power used is the
    contract up to the data's completeness."""
    frame = _totals([(start, 1e9)])
    row = allocations(frame, CONFIG, park, window=window, complete_to_ms=complete_to).row(
        0, named=True
    )
    assert row["added_value_cny"] == pytest.approx(added_value_cny, rel=1e-12)
    assert row["green_kwh"] == pytest.approx(contract_to_date_kwh, rel=1e-12)


def _november(days: list[float]) -> pl.DataFrame:
    return _totals([(ms(2026, 11, 1) + i * 86_400_000, g) for i, g in enumerate(days)])


def test_green_power_is_clipped_at_the_month_and_allocated_to_days_by_grid_import(
    park: Park,
) -> None:
    """A 30,000 kWh contract; 15 days importing 400 kWh and 15 importing 2,400 (42,000 kWh
    in the month): all 30,000 kWh are used, the days add up to the month (day-by-day
    clipping of 1,000 kWh a day would keep 21,000), and market CO2 is the month's 12,000
    kWh over the contract at the residual factor."""
    days = _november([400.0, 2_400.0] * 15)
    allocated = allocations(days, CONFIG, park, window="1d")
    assert allocated["green_kwh"].sum() == pytest.approx(30_000, rel=1e-12)
    assert (allocated["green_kwh"] / allocated["grid_kwh"]).to_list() == pytest.approx(
        [30_000 / 42_000] * 30, rel=1e-12
    )
    assert allocated["green_unused_kwh"].sum() == pytest.approx(0.0, abs=1e-9)
    month = allocations(_totals([(ms(2026, 11, 1), 42_000.0)]), CONFIG, park, window="1mo").row(
        0, named=True
    )
    assert month["green_kwh"] == pytest.approx(allocated["green_kwh"].sum(), rel=1e-12)
    co2 = energy_carbon(allocated.rename({"enterprise": "scope"}), COEF)["co2_market_t"].sum()
    assert co2 == pytest.approx(12_000 * COEF.residual_co2_kg_per_kwh / 1000, rel=1e-12)


def test_a_contract_larger_than_the_months_import_leaves_the_rest_unused(park: Park) -> None:
    """30 days at 500 kWh (15,000 kWh): 15,000 kWh of the contract used, 15,000 unused,
    spread over the days by time; market CO2 of the grid import is 0."""
    allocated = allocations(_november([500.0] * 30), CONFIG, park, window="1d")
    assert allocated["green_kwh"].to_list() == pytest.approx([500.0] * 30, rel=1e-12)
    assert allocated["green_unused_kwh"].to_list() == pytest.approx([500.0] * 30, rel=1e-12)


def test_stored_days_settle_a_shorter_window_on_the_whole_month(park: Park) -> None:
    """An hour of 4 November importing 100 kWh, in a month whose stored days imported
    42,000 kWh (its own day included): the hour gets 100 x 30,000 / 42,000 kWh."""
    stored = pl.DataFrame(
        {
            "enterprise": [E08] * 30,
            "day": [ms(2026, 11, 1) + i * 86_400_000 for i in range(30)],
            "month_start": [ms(2026, 11, 1)] * 30,
            "grid_kwh": [400.0, 2_400.0] * 15,
        }
    )
    hour = _totals([(ms(2026, 11, 4, 10), 100.0)])
    row = allocations(hour, CONFIG, park, window="1h", days_grid=stored).row(0, named=True)
    assert row["green_kwh"] == pytest.approx(100 * 30_000 / 42_000, rel=1e-12)
    # without the stored days only what it sees: the hour itself, the contract covers it
    alone = allocations(hour, CONFIG, park, window="1h").row(0, named=True)
    assert alone["green_kwh"] == pytest.approx(100.0)


def test_today_and_month_to_date_on_the_first_read_the_same_intensity(park: Park) -> None:
    """1 December at 10:00, the same 10 hours of energy in today's window and in the
    month's: the same intensity per 10k CNY (not 30x apart)."""
    complete_to = ms(2026, 12, 1, 10)
    frames = {
        w: energy_carbon(
            allocations(_totals([(ms(2026, 12, 1), 5_000.0)]), CONFIG, park, window=w,
                        complete_to_ms=complete_to).rename({"enterprise": "scope"}),
            COEF,
        ).row(0, named=True)
        for w in ("1d", "1mo")
    }  # fmt: skip
    today, month = frames["1d"], frames["1mo"]
    assert today["energy_tce_per_10k_cny"] == pytest.approx(
        month["energy_tce_per_10k_cny"], rel=1e-12
    )
    assert today["added_value_cny"] == pytest.approx(305e6 / 335 * 10 / 24, rel=1e-12)


def test_a_days_lookback_does_not_stand_in_for_the_stored_day_before(park: Park) -> None:
    """2 November computed, as the stream and the roll-up do, from readings that start a
    quarter of an hour before it (each meter's first interval needs the reading before:
    1,000 kWh of 1 November come with them), beside the stored whole 1 November
    (96,000 kWh). Up to 3 November the contract's 2,000 kWh to date are settled on
    the two whole days: 1,000 kWh for 2 November. Had the quarter hour stood in for 1
    November in the month's grid import, 2 November would get 2,000 x 96/97 = 1,979 kWh,
    nearly twice its share: the quota scenario's forecast fired on the 16th's figures
    instead of the 12th's."""
    day1, day2, day3 = ms(2026, 11, 1), ms(2026, 11, 2), ms(2026, 11, 3)
    quarter = 900_000
    # 1,000 kWh a quarter of an hour: 5 register units at multiplier 200; 23:30 to 23:45
    readings = pl.DataFrame(
        {
            "sensor": ["e08-grid-1"] * 98,
            "ts": [day2 - 2 * quarter + i * quarter for i in range(98)],
            "value": [1_000.0 + 5 * i for i in range(98)],
        }
    )
    stored = pl.DataFrame(
        {"enterprise": [E08], "day": [day1], "month_start": [day1], "grid_kwh": [96_000.0]}
    )
    rows = kpis(readings, park, CONFIG, COEF, window="1d", complete_to_ms=day3,
                days_grid=stored, span_ms=(day2, day3))  # fmt: skip
    e08 = rows.filter((pl.col("scope") == E08) & (pl.col("window") == day2)).row(0, named=True)
    assert e08["grid_kwh"] == pytest.approx(96_000.0, rel=1e-12)
    to_date = 30_000 * 2 / 30
    assert e08["green_kwh"] == pytest.approx(to_date / 2, rel=1e-12)
    assert e08["provisional"] is False
    assert sorted(rows["window"].unique().to_list()) == [day2]  # the quarter hour is not a row
