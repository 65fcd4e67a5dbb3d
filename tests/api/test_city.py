"""A city's parks side by side (pure): judged variants, milestones, ranking and totals."""

from __future__ import annotations

from api import city
from smartpark.registry import Registry


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


def test_parks_are_ranked_by_share_and_the_city_is_their_sum(park: Registry) -> None:
    spec = park.parks["tianfu-np"]
    key = "clean_energy_share_grid_implied_equal_value_pct"
    rows = [
        city.park_row(spec, {key: 60.0, "energy_tce": 10.0, "co2_location_t": 3.0}) | {"park": "a"},
        city.park_row(spec, None) | {"park": "b"},
        city.park_row(spec, {key: 72.0, "energy_tce": 5.0, "co2_location_t": 1.0}) | {"park": "c"},
    ]
    ranked = city.ranked(rows)
    assert [(r["park"], r["rank"]) for r in ranked] == [("c", 1), ("a", 2), ("b", None)]
    totals = city.totals(ranked)
    assert totals == {"parks": 3, "parks_stored": 2, "energy_tce": 15.0,
                      "electricity_kwh": None, "co2_location_t": 4.0, "co2_market_t": None}  # fmt: skip
