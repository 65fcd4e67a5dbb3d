"""A city's parks side by side (pure): judged variants, milestones, ranking and totals."""

from __future__ import annotations

from typing import Any

import pytest

from api import city
from smartpark.limits import CarbonBudgets, MonthlyLimits
from smartpark.registry import Registry

LIMITS = MonthlyLimits(
    quotas_tce_month={"e08-anode": 2600, "e09-anode": 1350, "elsewhere": 10},
    carbon_budgets=CarbonBudgets(t_month={"_park": 6000, "e08-anode": 2900}),
)
ON, OVER, AHEAD = (
    {"breached": False, "forecast_breach": False, "forecast_pct": 80.0},
    {"breached": True, "forecast_breach": True, "forecast_pct": 130.0},
    {"breached": False, "forecast_breach": True, "forecast_pct": 104.5},
)


def test_a_parks_row_judges_its_targets_on_their_variants(park: Registry) -> None:
    spec = park.parks["tianfu-np"]  # milestones 65/70/75 %, CO2 per tce 0.20 (location)
    figures = {"clean_energy_share_grid_implied_equal_value_pct": 68.5,
               "clean_energy_share_pct": 12.0, "co2_location_t_per_tce": 0.25,
               "co2_market_t_per_tce": 0.1, "energy_tce": 100.0, "co2_location_t": 25.0}  # fmt: skip
    row = city.park_row(spec, figures)
    share = row["clean_energy_share"]
    assert share["column"] == "clean_energy_share_grid_implied_equal_value_pct"
    assert share["value_pct"] == 68.5 and share["milestones_pct"] == {
        "2025": 65,
        "2030": 70,
        "2035": 75,
    }
    assert share["met_pct"] == {"2025": True, "2030": False, "2035": False}
    carbon = row["co2_per_energy"]
    assert (carbon["column"], carbon["value_t_per_tce"], carbon["met"]) == (
        "co2_location_t_per_tce",
        0.25,
        False,
    )
    assert row["energy_tce"] == 100.0 and row["co2_market_t"] is None
    empty = city.park_row(spec, None)
    assert empty["stored"] is False and empty["clean_energy_share"]["met_pct"] == {}
    assert empty["quota"]["status"] == empty["carbon_budget"]["status"] == "unknown"
    assert empty["completeness"] == {"mean_pct": None, "sensor_days": 0}


@pytest.mark.parametrize(
    ("point", "configured", "expected"),
    [
        (OVER, True, "breached"),
        (AHEAD, True, "forecast_breach"),
        (ON, True, "on_track"),
        (ON, None, "on_track"),  # a stored point speaks for itself
        (None, True, "not_computed"),
        (None, False, "not_configured"),
        (None, None, "unknown"),
    ],
)
def test_a_burn_downs_status(
    point: dict[str, Any] | None, configured: bool | None, expected: str
) -> None:
    assert city.status(point, configured=configured) == expected


@pytest.mark.parametrize(
    ("points", "limits", "expected"),
    [
        ([ON, AHEAD, ON], LIMITS, ("forecast_breach", 2, 3, 0, 1, 104.5)),
        ([OVER, AHEAD], LIMITS, ("breached", 2, 2, 1, 1, 130.0)),
        ([ON], LIMITS, ("on_track", 2, 1, 0, 0, 80.0)),
        ([], LIMITS, ("not_computed", 2, 0, 0, 0, None)),  # the month's first day
        ([], MonthlyLimits(), ("not_configured", 0, 0, 0, 0, None)),
        ([], None, ("unknown", None, 0, 0, 0, None)),  # its configuration unread
    ],
)
def test_a_parks_quota_is_its_worst_enterprises_and_names_none(
    park: Registry,
    points: list[dict[str, Any]],
    limits: MonthlyLimits | None,
    expected: tuple[object, ...],
) -> None:
    """Quotas are enterprises': a park is as far over as its worst; only the park's own
    enterprises' quotas count (``elsewhere`` is another park's)."""
    tagged = [p | {"enterprise": "e08-anode"} for p in points]
    found = city.quota(city.Evaluations(quotas=tagged, limits=limits),
                       [e.id for e in park.parks["tianfu-np"].enterprises])  # fmt: skip
    keys = ("status", "enterprises", "computed", "breached", "forecast_breach",
            "max_forecast_pct")  # fmt: skip
    assert tuple(found[k] for k in keys) == expected
    assert "e08-anode" not in str(found)


@pytest.mark.parametrize(
    ("point", "limits", "expected_status", "expected_limit"),
    [
        (
            OVER
            | {
                "used_co2_t": 6100.0,
                "budget_co2_t": 6000.0,
                "co2_method": "location",
                "co2_factor": "0.1404",
            },
            LIMITS,
            "breached",
            6000,
        ),
        (None, LIMITS, "not_computed", 6000),
        (None, MonthlyLimits(), "not_configured", None),
        (None, None, "unknown", None),
    ],
)
def test_a_parks_carbon_budget_is_its_own_with_its_method(
    point: dict[str, Any] | None,
    limits: MonthlyLimits | None,
    expected_status: str,
    expected_limit: float | None,
) -> None:
    found = city.budget(city.Evaluations(budget=point, limits=limits))
    assert (found["status"], found["budget_t_month"]) == (expected_status, expected_limit)
    if point is not None:
        assert (found["used_co2_t"], found["co2_method"], found["co2_factor"]) == (
            6100.0, "location", "0.1404",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("sums", "counts", "expected"),
    [
        # two enterprises: 3 sensor-days at 100, 90, 80 and 1 at 50: (270 + 50) / 4
        ({"a": 270.0, "b": 50.0}, {"a": 3.0, "b": 1.0}, {"mean_pct": 80.0, "sensor_days": 4}),
        ({}, {}, {"mean_pct": None, "sensor_days": 0}),
    ],
)
def test_a_parks_completeness_is_the_mean_of_its_sensor_days(
    sums: dict[str, float], counts: dict[str, float], expected: dict[str, Any]
) -> None:
    found = city.completeness(city.Evaluations(completeness_sum_pct=sums, sensor_days=counts))
    assert found == expected


def test_parks_are_ranked_by_share_and_the_city_is_their_sum(park: Registry) -> None:
    spec = park.parks["tianfu-np"]
    key = "clean_energy_share_grid_implied_equal_value_pct"
    over = city.Evaluations(quotas=[OVER, AHEAD, ON], budget=OVER, limits=LIMITS,
                            completeness_sum_pct={"x": 300.0}, sensor_days={"x": 3.0})  # fmt: skip
    ahead = city.Evaluations(quotas=[AHEAD], budget=AHEAD, limits=LIMITS,
                             completeness_sum_pct={"x": 60.0}, sensor_days={"x": 1.0})  # fmt: skip
    rows = [
        city.park_row(spec, {key: 60.0, "energy_tce": 10.0, "co2_location_t": 3.0}, over)
        | {"park": "a"},
        city.park_row(spec, None) | {"park": "b"},
        city.park_row(spec, {key: 72.0, "energy_tce": 5.0, "co2_location_t": 1.0}, ahead)
        | {"park": "c"},
    ]
    ranked = city.ranked(rows)
    assert [(r["park"], r["rank"]) for r in ranked] == [("c", 1), ("a", 2), ("b", None)]
    totals = city.totals(ranked)
    assert totals == {"parks": 3, "parks_stored": 2, "energy_tce": 15.0,
                      "electricity_kwh": None, "co2_location_t": 4.0, "co2_market_t": None,
                      "quota_breached": 1, "quota_forecast_breach": 2,
                      "budgets_breached": 1, "budgets_forecast_breach": 1,
                      # every sensor-day of the city: (300 + 60) / 4
                      "completeness": {"mean_pct": 90.0, "sensor_days": 4}}  # fmt: skip
