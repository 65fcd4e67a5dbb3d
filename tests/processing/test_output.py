"""What processing writes is what ``smartpark.schema`` declares: every KPI column, every
target, every burn-down column; a column the schema lacks would be refused at the write."""

from __future__ import annotations

from datetime import date

import polars as pl

from processing import output
from processing.kpis import (
    TARGETED,
    against_targets,
    carbon_efficiency,
    energy_carbon,
    judged_column,
)
from processing.quota import burn_down
from smartpark import schema
from tests.processing.test_kpis import COEF

TOTALS = pl.DataFrame(
    {
        "scope": ["e1", "_park"], "window": [0, 0], "grid_kwh": [100.0, 100.0],
        "green_kwh": [10.0, 10.0], "pv_kwh": [5.0, 5.0], "gas_m3": [3.0, 3.0],
        "steam_kg": [1.0, 1.0], "added_value_cny": [50_000.0, 50_000.0], "output": [7.0, None],
        "readings": [60, 60], "flags": [0, 1], "green_unused_kwh": [0.0, 0.0],
    }
)  # fmt: skip


def test_every_kpi_column_is_a_declared_field() -> None:
    frame = energy_carbon(TOTALS, COEF)
    frame = carbon_efficiency(
        frame, industry={"e1": "graphite"}, average_t_per_10k_cny={"graphite": 1.0}
    )
    targets = dict.fromkeys(TARGETED, 1.0)
    for variant in ("proven", "grid_implied"):  # each variant judges its own columns
        variants = dict.fromkeys(TARGETED, variant)
        judged = against_targets(frame, targets, years=pl.Series([2026, 2026]), variants=variants)
        assert {f"{judged_column(n, variants)}_met" for n in TARGETED} <= set(judged.columns)
        undeclared = set(judged.columns) - set(schema.KPI.fields) - set(output.KEYS)
        assert not undeclared, variant
        lines = list(output.points(judged, park="p1", window="1d", tags=COEF.tags()))
        assert len(lines) == 2  # encoded through the schema: nothing refused


def test_burn_down_columns_are_the_declared_fields() -> None:
    daily = pl.DataFrame(
        {"enterprise": ["e1"], "day": [date(2026, 11, 3)], "used": [30.0]},
        schema={"enterprise": pl.Utf8, "day": pl.Date, "used": pl.Float64},
    )
    quota = burn_down(daily, {"e1": 900.0}, as_of=date(2026, 11, 3))
    assert set(quota.columns) - {"enterprise"} == set(schema.QUOTA.fields)
    budget = burn_down(daily, {"e1": 800.0}, as_of=date(2026, 11, 3), unit="co2_t", limit="budget")
    assert set(budget.columns) - {"enterprise"} == set(schema.CARBON_BUDGET.fields)
    method = {"co2_method": "location", "co2_factor": "grid", "factor_set": "cn"}
    assert len(list(output.carbon_budget_points(budget, park="p1", month_ms=0, method=method))) == 1
