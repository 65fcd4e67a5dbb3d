"""What processing writes is what ``smartpark.schema`` declares: every KPI column, every
target, every burn-down column; a column the schema lacks would be refused at the write."""

from __future__ import annotations

import dataclasses
from datetime import date

import orjson
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


def _parsed(line: str) -> tuple[str, list[tuple[str, float | str]], str]:
    """A line's series, fields (numbers as floats, in order) and time (no escapes in the
    field part, as in every KPI line)."""
    series, body, ts = line.rsplit(" ", 2)
    fields = [(k, v if v in ("true", "false") else float(v))
              for k, v in (f.split("=") for f in body.split(","))]  # fmt: skip
    return series, fields, ts


def test_the_frame_encoders_write_the_schemas_points_and_the_codecs_messages() -> None:
    """``points`` and ``messages`` build a frame at a time; each line is the point
    ``schema.KPI.point`` makes of the row (nulls, NaN and infinities left out, booleans as
    booleans, integers as floats, every float the same double) and each message decodes
    to what ``encode_kpi_update`` makes of it, keys in the same order."""
    frame = energy_carbon(TOTALS, WITH_FUELS).with_columns(
        pl.Series("grid_kwh", [float("nan"), 0.1 + 0.2]),
        pl.Series("green_kwh", [float("inf"), 1.3e-9]),
        pl.Series("pv_kwh", [None, 123456789.125]),
        pl.Series("gas_m3", [-0.0, 2e22]),
        pl.Series("product_limit_met", [True, None]),
        pl.Series("revision", [3, 4]),
    )
    tags = WITH_FUELS.tags()
    want = [
        schema.KPI.point(
            {"park": "p 1", "scope": row["scope"], "window": "1m", **tags},
            output._fields(row),
            int(row["window"]),
        )
        for row in frame.iter_rows(named=True)
    ]
    got = list(output.points(frame, park="p 1", window="1m", tags=tags))
    assert [_parsed(line) for line in got] == [_parsed(line) for line in want]
    assert got[1] != want[1]  # not by accident: 1.3e-9 and 2e22 are spelled differently
    ends, revisions = {0: 60_000}, {("e1", 0): 2}
    want_messages = list(output._messages_by_row(
        frame, root="r", park="p1", window="1m", ends=ends, tags=tags, revisions=revisions
    ))  # fmt: skip
    got_messages = list(output.messages(
        frame, root="r", park="p1", window="1m", ends=ends, tags=tags, revisions=revisions
    ))  # fmt: skip
    assert [t for t, _ in got_messages] == [t for t, _ in want_messages]
    assert [list(orjson.loads(p).items()) for _, p in got_messages] == [
        list(orjson.loads(p).items()) for _, p in want_messages
    ]
    sensors = pl.DataFrame(
        {"enterprise": ["e1", "e1", "e2"], "kind": "electricity", "sensor": ["m,1", "m,1", "m2"],
         "column": ["grid_kwh", "grid_kwh", "pv_kwh"], "use": [0.1, 2.5, 7.0],
         "readings": [60, 59, 1], "flags": [0, 1, 0], "window": [0, 60_000, 0]}
    )  # fmt: skip
    want = [
        schema.SENSOR_USE.point(
            {
                "park": "p1",
                "enterprise": r["enterprise"],
                "kind": r["kind"],
                "sensor": r["sensor"],
                "window": "1m",
            },
            {r["column"]: float(r["use"]), "readings": r["readings"], "flags": r["flags"]},
            int(r["window"]),
        )
        for r in sensors.iter_rows(named=True)
    ]
    assert list(output.sensor_points(sensors, park="p1", window="1m")) == want


def test_a_column_the_kpi_schema_lacks_is_refused() -> None:
    frame = TOTALS.with_columns(pl.lit(1.0).alias("not_a_kpi"))
    with pytest.raises(schema.SchemaError):
        list(output.points(frame, park="p1", window="1d", tags={}))
