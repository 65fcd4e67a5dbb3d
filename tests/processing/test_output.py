"""What processing writes is what ``smartpark.schema`` declares: every KPI column, every
target, every burn-down column; a column the schema lacks would be refused at the write."""

from __future__ import annotations

import dataclasses
from datetime import date

import polars as pl
import pytest

from processing import output
from processing.kpis import (
    FuelFactor,
    against_targets,
    at_previous_year_prices,
    carbon_efficiency,
    energy_carbon,
)
from processing.products import against_product_limits
from processing.quota import burn_down
from smartpark import schema
from smartpark.carriers import FUELS
from smartpark.products import ProductSpec
from smartpark.targets import TARGETS, judged_column
from tests.processing.test_kpis import COEF

TOTALS = pl.DataFrame(
    {
        "scope": ["e1", "_park"], "window": [0, 0], "grid_kwh": [100.0, 100.0],
        "green_kwh": [10.0, 10.0], "pv_kwh": [5.0, 5.0], "gas_m3": [3.0, 3.0],
        "steam_kg": [1.0, 1.0], "added_value_cny": [50_000.0, 50_000.0], "output": [7.0, None],
        "readings": [60, 60], "flags": [0, 1], "green_unused_kwh": [0.0, 0.0],
    }
)  # fmt: skip
#: every carrier counted, so each carrier's columns are in the frame
WITH_FUELS = dataclasses.replace(
    COEF, fuels=tuple(FuelFactor(f.column, f.factor, 1.0, 2.0) for f in FUELS)
)
PRODUCT = ProductSpec(
    name="p", unit="t", source="test data",
    levels_kgce={"limit": 1000.0, "entry": 900.0, "advanced": 800.0, "baseline": 950.0,
                 "benchmark": 850.0},
)  # fmt: skip
VARIANTS = sorted({v for t in TARGETS.values() for v in t.columns})


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_kpi_column_is_a_declared_field(variant: str) -> None:
    """Each variant judges its own columns; every column a KPI frame can have (every
    carrier, product level, target) is declared, and the point is encoded."""
    years = pl.Series([2026, 2026])
    frame = energy_carbon(TOTALS, WITH_FUELS)
    frame = at_previous_year_prices(frame, years=years, price_index={2026: 101.0})
    frame = against_product_limits(frame, {"e1": PRODUCT})
    frame = carbon_efficiency(
        frame, industry={"e1": "graphite"}, average_t_per_10k_cny={"graphite": 1.0}
    )
    variants = {n: variant for n, t in TARGETS.items() if variant in t.columns}
    judged = against_targets(frame, dict.fromkeys(variants, 1.0), years=years, variants=variants)
    assert {f"{judged_column(n, variants, milestone=False)}_met" for n in variants} <= set(
        judged.columns
    )
    undeclared = set(judged.columns) - set(schema.KPI.fields) - set(output.KEYS)
    assert not undeclared
    lines = list(output.points(judged, park="p1", window="1d", tags=WITH_FUELS.tags()))
    assert len(lines) == 2  # encoded through the schema: nothing refused


def test_burn_down_columns_are_the_declared_fields() -> None:
    daily = pl.DataFrame(
        {"enterprise": ["e1"], "day": [date(2026, 11, 3)], "used": [30.0]},
        schema={"enterprise": pl.Utf8, "day": pl.Date, "used": pl.Float64},
    )
    quota = burn_down(daily, {"e1": 900.0}, as_of=date(2026, 11, 3))
    assert set(quota.columns) - {"enterprise"} == set(schema.QUOTA.fields)
    made = {"quota_total": "energy_excl_renewables_tce", "factor_set": "cn",
            "energy_basis": "equivalent", "gas_factor": "g", "steam_factor": "s",
            "certificates_in_quota": "true"}  # fmt: skip
    assert len(list(output.quota_points(quota, park="p1", month_ms=0, method=made))) == 1
    budget = burn_down(daily, {"e1": 800.0}, as_of=date(2026, 11, 3), unit="co2_t", limit="budget")
    assert set(budget.columns) - {"enterprise"} == set(schema.CARBON_BUDGET.fields)
    method = {"co2_method": "location", "co2_factor": "grid", "factor_set": "cn"}
    assert len(list(output.carbon_budget_points(budget, park="p1", month_ms=0, method=method))) == 1


def test_every_carrier_a_sensor_meters_is_a_declared_sensor_use_field() -> None:
    """A coal, diesel or heat meter's use is written like electricity's (nothing refused)."""
    from processing.engine import COLUMNS

    assert set(COLUMNS) <= set(schema.SENSOR_USE.fields)
    frame = pl.DataFrame(
        {"enterprise": "e1", "kind": [f.kind for f in FUELS], "sensor": "m1",
         "column": [f.column for f in FUELS], "use": 1.0, "readings": 2, "flags": 0,
         "window": 0}
    )  # fmt: skip
    assert len(list(output.sensor_points(frame, park="p1", window="1h"))) == len(FUELS)
