"""Monthly limits and the one month-end forecast both stages burn them with."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from pydantic import ValidationError

from smartpark.limits import CarbonBudgets, budget_field, month_end_forecast
from smartpark.model import rated_max_per_ms


@pytest.mark.parametrize(
    ("used", "through", "forecast"),
    [
        (450.0, date(2026, 11, 15), 900.0),  # 15 days of 30 at 30 a day
        (189.0, date(2026, 3, 7), 189 / 7 * 31),
        (28.0, date(2026, 2, 28), 28.0),  # the month's last day: the forecast is the use
        (29.0, date(2028, 2, 1), 29 * 29.0),  # a leap February
        (0.0, date(2026, 1, 1), 0.0),
    ],
)
def test_month_end_forecast(used: float, through: date, forecast: float) -> None:
    assert month_end_forecast(used, through=through) == pytest.approx(forecast)
    frame = pl.DataFrame({"used": [used]})
    by_expr = frame.select(month_end_forecast(pl.col("used"), through=through)).item()
    assert by_expr == pytest.approx(forecast)  # the burn-down's polars form agrees


@pytest.mark.parametrize("t_month", [{"e1": 0.0}, {"e1": -5.0}, {"Bad Id": 10.0}])
def test_carbon_budgets_refuse_what_cannot_be_burned(t_month: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        CarbonBudgets(t_month=t_month)


def test_a_budget_burns_the_kpi_field_of_its_method() -> None:
    assert (budget_field("location"), budget_field("market")) == ("co2_location_t", "co2_market_t")


@pytest.mark.parametrize(
    ("rated_per_h", "multiplier", "tolerance", "per_ms"),
    [
        (None, 1.0, 1.5, None),  # no rating: any rise
        (3_600.0, 1.0, 1.0, 0.001),
        (3_600.0, 40.0, 1.5, 3_600 * 1.5 / 40 / 3_600_000),  # register units: use / multiplier
    ],
)
def test_rated_max_per_ms(
    rated_per_h: float | None, multiplier: float, tolerance: float, per_ms: float | None
) -> None:
    got = rated_max_per_ms(rated_per_h, multiplier=multiplier, tolerance=tolerance)
    assert got == (None if per_ms is None else pytest.approx(per_ms))
