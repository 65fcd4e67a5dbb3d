"""Numbers an auditor signs (issue 25): each test states the figures of one finding."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from processing import output
from processing.config import ProcessingConfig, coefficients, load_factor_set
from processing.config import load as load_config
from processing.engine import Park, kpis
from processing.jobs import Jobs
from processing.kpis import against_targets, at_previous_year_prices, energy_carbon
from processing.muju import MujuRules, annualised, grade
from processing.products import against_product_limits
from processing.stream import StreamProcessor
from smartpark import registry as registry_mod
from smartpark.clock import SystemClock
from smartpark.config import validate
from smartpark.errors import ConfigError
from smartpark.model import KPI_METHOD_TAGS
from smartpark.products import ProductSpec
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from tests.conftest import EXAMPLE_PARK
from tests.processing.test_kpis import COEF, _park


def _problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate(ProcessingConfig, raw, source="p.yaml", what="processing configuration")
    return caught.value.problems


# -- item 6: one declaration per enterprise and period -----------------------------------


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        # January twice: the month allocation summed them (620,000 for January of a
        # 3,650,000 year: 4,270,000 in all), the year rest took the last
        pytest.param(
            [{"enterprise": "e08-anode", "year": 2026, "added_value_cny": 3_650_000},
             {"enterprise": "e08-anode", "year": 2026, "month": 1, "added_value_cny": 310_000},
             {"enterprise": "e08-anode", "year": 2026, "month": 1, "added_value_cny": 310_000}],
            "declared[2] declares e08-anode 2026-01 again (declared[1])", id="month-twice",
        ),
        # the year twice: summed to 7,300,000 by the allocation, the last by the mu-average
        pytest.param(
            [{"enterprise": "e08-anode", "year": 2026, "added_value_cny": 3_650_000},
             {"enterprise": "e01-baijiu", "year": 2026, "added_value_cny": 1_000_000},
             {"enterprise": "e08-anode", "year": 2026, "added_value_cny": 3_650_000}],
            "declared[2] declares e08-anode 2026 again (declared[0])", id="year-twice",
        ),
    ],
)  # fmt: skip
def test_a_period_declared_twice_is_refused_where_it_is(
    declared: list[dict[str, Any]], message: str
) -> None:
    [problem] = _problems({"declared": declared})
    assert problem.startswith("declared: ") and message in problem


def test_the_same_month_of_two_enterprises_or_two_years_is_no_repeat() -> None:
    ProcessingConfig.model_validate(
        {"declared": [
            {"enterprise": "a", "year": 2026, "month": 1, "added_value_cny": 1},
            {"enterprise": "b", "year": 2026, "month": 1, "added_value_cny": 1},
            {"enterprise": "a", "year": 2025, "month": 1, "added_value_cny": 1},
        ]}
    )  # fmt: skip


# -- items 10, 11, 12: what each target is judged on, both figures reported -------------


def _example_park(**variants: str) -> dict[str, Any]:
    frame = energy_carbon(_park(), COEF)
    targets = {"clean_energy_share_pct_2025": 65, "non_fossil_share_pct": 20,
               "co2_per_energy_t_per_tce": 0.20, "energy_tce_per_10k_cny": 0.35}  # fmt: skip
    years = pl.Series([2026] * frame.height)
    return against_targets(frame, targets, years=years, variants=variants).row(0, named=True)


@pytest.mark.parametrize(
    ("variant", "column", "share", "met"),
    [
        ("proven", "non_fossil_share_pct", 11.26, False),
        ("grid_implied", "non_fossil_share_grid_implied_pct", 50.98, True),
        # the regional statistics' basis: every kWh at 等价值 (0.30 kgce), gas at 1.33
        ("grid_implied_equal_value", "non_fossil_share_grid_implied_equal_value_pct", 67.21, True),
    ],
)
def test_a_share_target_is_judged_on_the_variant_the_park_names(
    variant: str, column: str, share: float, met: bool
) -> None:
    """Item 10: the worked example's non-fossil 20 % target fails at 11.26 % proven and
    passes at 50.98 % grid-implied (当量值) and 67.21 % grid-implied at 等价值."""
    row = _example_park(non_fossil_share_pct=variant)
    assert round(row[column], 2) == share
    assert (row[f"{column}_target"], row[f"{column}_met"]) == (20, met)


def test_only_the_city_milestones_default_to_the_statistics_variant() -> None:
    """Item 10: the clean-energy milestones are judged grid-implied at 等价值 (89.30 % vs
    65 %) without being told; a non-fossil target naming no variant is judged on nothing
    here, and the registry refuses it (next test)."""
    row = _example_park()
    judged = "clean_energy_share_grid_implied_equal_value_pct"
    assert round(row[judged], 2) == 89.30 and row[f"{judged}_met"] is True
    assert not any(k.startswith("non_fossil") and k.endswith("_target") for k in row)


def test_the_registry_refuses_a_share_target_without_its_variant() -> None:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    park = doc["parks"][0]
    del park["target_variants"]["non_fossil_share_pct"]
    park["target_variants"]["co2_per_energy_t_per_tce"] = "proven"
    park["targets"]["clean_energy_share_pct"] = 90  # a park's own 90 %: not a milestone
    _registry, problems = registry_mod.parse(doc)
    where = "parks[0 id='tianfu-np']"
    assert problems == [
        f"{where}.targets.non_fossil_share_pct: name the variant it is judged on in "
        "target_variants.non_fossil_share_pct (proven, grid_implied, grid_implied_equal_value); "
        "only the city's clean-energy milestones default (grid_implied_equal_value)",
        f"{where}.targets.clean_energy_share_pct: name the variant it is judged on in "
        "target_variants.clean_energy_share_pct (proven, grid_implied, grid_implied_equal_value); "
        "only the city's clean-energy milestones default (grid_implied_equal_value)",
        f"{where}.target_variants.co2_per_energy_t_per_tce: 'proven' is not a variant of it "
        "(location, market)",
    ]


@pytest.mark.parametrize(
    ("variant", "column", "value"),
    [("location", "co2_location_t_per_tce", 1.303), ("market", "co2_market_t_per_tce", 3.038)],
)
def test_co2_per_tce_is_judged_on_the_method_the_park_names(
    variant: str, column: str, value: float
) -> None:
    """Item 12: the worked example's park emits 1.303 tCO2/tce location-based (Sichuan
    0.1404) and 3.038 market-based (national residual 0.6096); both are reported, the
    0.20 indicator is judged on the one the park's configuration names."""
    row = _example_park(co2_per_energy_t_per_tce=variant)
    assert round(row["co2_location_t_per_tce"], 3) == 1.303
    assert round(row["co2_market_t_per_tce"], 3) == 3.038
    assert round(row[column], 3) == value
    assert (row[f"{column}_target"], row[f"{column}_met"]) == (0.20, False)
    other = {"location": "co2_market_t_per_tce", "market": "co2_location_t_per_tce"}[variant]
    assert f"{other}_target" not in row


def test_intensity_without_renewables_is_reported_beside_the_gross_one() -> None:
    """Item 11 (发改环资[2024]113号): the worked example's park, 790,000 CNY of added
    value: gross 15.2842 tce -> 0.1935 tce per 10k CNY; without its PV (4,000 kWh) and
    certified green power (10,000 kWh), 15.2842 - 1.7206 = 13.5636 tce -> 0.1717."""
    row = _example_park(energy_tce_per_10k_cny="excl_renewables")
    assert round(row["energy_tce_per_10k_cny"], 4) == 0.1935
    assert row["energy_excl_renewables_tce"] == pytest.approx(13.5636, abs=1e-4)
    column = "energy_excl_renewables_tce_per_10k_cny"
    assert round(row[column], 4) == 0.1717
    assert (row[f"{column}_target"], row[f"{column}_met"]) == (0.35, True)
    assert "energy_tce_per_10k_cny_target" in _example_park()  # gross by default


# -- item 9: certificates, two separate choices ------------------------------------------


@pytest.mark.parametrize(
    ("in_quota", "in_market", "excl_renewables_tce", "co2_market_t"),
    [
        # the default: certificates prove renewable consumption (1258号, 113号), 30,000 kWh
        # x 0.1229 kgce = 3.687 tce off the quota total; market CO2 keeps 100,000 x 0.6096
        (True, False, 8.603, 60.96),
        (False, True, 12.29, 42.672),  # netted in market CO2 only: 70,000 x 0.6096
        (True, True, 8.603, 42.672),
        (False, False, 12.29, 60.96),
    ],
)
def test_certificates_count_in_the_quota_and_in_market_co2_by_two_switches(
    in_quota: bool, in_market: bool, excl_renewables_tce: float, co2_market_t: float
) -> None:
    """Item 9: 100,000 kWh of grid import and 30,000 kWh of unbundled certificates (绿证)."""
    month = pl.DataFrame({"scope": ["e"], "window": [0], "grid_kwh": [100_000.0],
                          "certificates_kwh": [30_000.0]})  # fmt: skip
    coef = replace(COEF, certificates_in_quota=in_quota, certificates_in_market_co2=in_market)
    row = energy_carbon(month, coef).row(0, named=True)
    assert round(row["energy_tce"], 3) == 12.29
    assert round(row["energy_excl_renewables_tce"], 3) == excl_renewables_tce
    assert round(row["co2_market_t"], 3) == co2_market_t
    assert row["certificates_kwh"] == 30_000  # always reported apart
    tags = coef.tags()
    assert (tags["certificates_in_quota"], tags["certificates_in_market_co2"]) == (
        str(in_quota).lower(),
        str(in_market).lower(),
    )


@pytest.mark.parametrize(
    ("methods", "expected"),
    [
        ({}, (True, False)),
        ({"certificates_in_quota": False}, (False, False)),
        ({"certificates_in_market_co2": True}, (True, True)),
        ({"net_unbundled_certificates": True, "certificates_in_quota": False}, (True, True)),
    ],
)
def test_the_certificate_switches_are_configuration(
    methods: dict[str, bool], expected: tuple[bool, bool]
) -> None:
    config = ProcessingConfig.model_validate({"methods": methods})
    coef = coefficients(config, load_factor_set("cn"))
    assert (coef.certificates_in_quota, coef.certificates_in_market_co2) == expected


# -- item 13: every point names its method -----------------------------------------------


def test_a_kpi_point_names_every_coefficient_and_choice_that_made_it() -> None:
    """Item 13: the default shares depend on the fossil-only factor, so it is a tag."""
    coef = coefficients(ProcessingConfig(), load_factor_set("cn"))
    assert coef.tags() == {
        "factor_set": "cn", "energy_basis": "electricity_equivalent",
        "grid_factor": "sichuan-2022", "residual_factor": "national-residual-2023",
        "fossil_factor": "national-fossil-2023", "gas_factor": "natural_gas",
        "steam_factor": "steam_low_pressure", "coal_factor": "raw_coal",
        "diesel_factor": "diesel", "fuel_oil_factor": "fuel_oil", "lpg_factor": "lpg",
        "heat_factor": "purchased_heat", "certificates_in_quota": "true",
        "certificates_in_market_co2": "false",
    }  # fmt: skip
    assert tuple(coef.tags()) == KPI_METHOD_TAGS  # the API reads these as tags
    frame = energy_carbon(_park().with_columns(scope=pl.lit("_park"), window=pl.lit(0)), coef)
    [line] = output.points(frame, park="p", window="1d", tags=coef.tags())
    assert "fossil_factor=national-fossil-2023" in line.split(" ")[0]


# -- item 7: an interim mu-average compares annualised amounts with annual benchmarks ---

BENCH = MujuRules(
    benchmarks={"revenue_per_mu": 100, "tax_per_mu": 10, "revenue_per_employee": 100,
                "revenue_per_tce": 10, "rd_intensity_pct": 1, "local_score": 100},
    min_enterprises=2,
)  # fmt: skip


def _firms(share: float) -> pl.DataFrame:
    """a and b on 1 mu with 1 employee: a year's amounts x ``share`` (a quarter: 0.25)."""
    year = {"a": (110.0, 11.0, 11.0, 1.1, 60.0), "b": (70.0, 7.0, 7.0, 0.7, 100.0)}
    return pl.DataFrame(
        [{"enterprise": e, "revenue_cny": r * share, "tax_cny": t * share,
          "energy_tce": en * share, "rd_cny": rd * share, "local_score": local,
          "land_mu": 1.0, "employees": 1, "veto": False}
         for e, (r, t, en, rd, local) in year.items()]
    )  # fmt: skip


def _scores(frame: pl.DataFrame) -> dict[str, float]:
    return dict(zip(*grade(frame, BENCH).select("enterprise", "score"), strict=True))


def test_an_interim_mu_average_is_annualised_and_ranks_as_the_year_does() -> None:
    """Item 7: the year view scores a 94 and b 82; January-March against the annual
    benchmarks scored b 50.5 and a 44.5 (per mu and per employee, 60 % of the weight, read
    a quarter as a quarter of a year). Annualised (x 12 / 3) it scores as the year."""
    assert _scores(_firms(1.0)) == {"a": 94.0, "b": 82.0}
    assert _scores(_firms(0.25)) == {"b": 50.5, "a": 44.5}  # what the interim view was
    interim = annualised(_firms(0.25), months=3)
    assert _scores(interim) == {"a": 94.0, "b": 82.0}
    assert interim["annualised_from_months"].to_list() == [3, 3]


# -- item 8: 单位工业增加值能耗's change at comparable prices ------------------------------


@pytest.mark.parametrize(
    ("price_index", "comparable"),
    [({2026: 102.0}, 0.2), ({2025: 101.0}, None)],  # no index for 2026: nominal only
)
def test_the_intensity_at_last_years_prices_gives_the_comparable_change(
    price_index: dict[int, float], comparable: float | None
) -> None:
    """Item 8: 100 tce on 5,100,000 CNY of 2026 added value is 0.19608 tce per 10k CNY
    nominal, a 1.96 % fall from 2025's 0.2000; with 2026 prices 2 % above 2025's (index
    102) the added value is 5,000,000 CNY at comparable prices: 0.2000, no fall at all."""
    year = pl.DataFrame({"scope": ["e"], "window": [0], "grid_kwh": [100_000 / 0.1229],
                         "added_value_cny": [5_100_000.0]})  # fmt: skip
    frame = energy_carbon(year, COEF)
    out = at_previous_year_prices(frame, years=pl.Series([2026]), price_index=price_index)
    row = out.row(0, named=True)
    assert round(row["energy_tce_per_10k_cny"], 5) == 0.19608
    got = row.get("energy_tce_per_10k_cny_prev_year_prices")
    assert (round(got, 5) if got is not None else None) == comparable


# -- item 14: a measured NCV's reference temperature against the meter's volume basis ---


@pytest.mark.parametrize(
    ("basis_c", "gas_m3", "tce"),
    [
        # a meter counting m3 at 0 C, the NCV's reference at 20 C: 1,000 m3 at 0 C are
        # 1,073.2 m3 at 20 C (293.15 / 273.15) x 1.23517 kgce = 1.3256 tce
        (0, 1_073.2, 1.3256),
        (20, 1_000.0, 1.2352),  # the same basis: nothing to convert
        (None, 1_000.0, 1.2352),  # not stated: taken as the NCV's
    ],
)
def test_a_meters_volume_is_converted_to_the_ncvs_reference_temperature(
    tmp_path: Path, basis_c: int | None, gas_m3: float, tce: float
) -> None:
    """Item 14: the supplier's NCV of 36,200 kJ/m3 is stated at 20 C; e04-gas-1 counts
    1,000 m3 in a day (0 C and 20 C are 7.3 % apart)."""
    shutil.copy(EXAMPLE_PARK.parent / "factors-park.yaml", tmp_path / "factors-park.yaml")
    (tmp_path / "processing.yaml").write_text(
        "factors: [cn, factors-park.yaml]\nmethods: {gas: tianfu-gas-2026}\n"
    )
    config = load_config(tmp_path / "processing.yaml")
    coef = coefficients(config, load_factor_set(config.factors))
    assert coef.gas_reference_c == 20
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    ent = next(e for e in doc["parks"][0]["enterprises"] if e["id"] == "e04-cannery")
    gas = next(s for s in ent["sensors"] if s["id"] == "e04-gas-1")
    if basis_c is not None:
        gas["volume_basis_c"] = basis_c
    registry = registry_mod.parse(doc)[0]
    assert registry is not None
    park = Park.from_registry(registry, "tianfu-np", config, gas_reference_c=coef.gas_reference_c)
    day = 1_793_548_800_000  # 2026-11-02 00:00 Asia/Shanghai
    readings = pl.DataFrame(
        {"sensor": ["e04-gas-1"] * 2, "ts": [day + 60_000, day + 86_340_000],
         "value": [5_000.0, 6_000.0]}
    )  # fmt: skip
    rows = kpis(readings, park, config, coef, window="1d")
    row = rows.filter(pl.col("scope") == "e04-cannery").row(0, named=True)
    assert round(row["gas_m3"], 1) == gas_m3
    assert round(row["energy_tce"], 4) == tce


def test_a_volume_basis_is_only_for_sensors_counting_volume() -> None:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    ent = next(e for e in doc["parks"][0]["enterprises"] if e["id"] == "e04-cannery")
    ent["sensors"][0]["volume_basis_c"] = 20  # e04-grid-1, electricity
    assert registry_mod.parse(doc)[1] == [
        "parks[0 id='tianfu-np'].enterprises[3 id='e04-cannery'].sensors[0 id='e04-grid-1']"
        ".volume_basis_c: only sensors counting volume"
    ]


# -- item 15: every carrier a park burns --------------------------------------------------

# carrier sensor of e04-cannery: (kind, rated per h, register at 00:01, at 23:59)
BURNS = {
    "e04-coal-1": ("coal", 2.0, 100.0, 110.0),  # 10 t of raw coal
    "e04-diesel-1": ("diesel", 50.0, 1_000.0, 1_500.0),  # 500 kg
    "e04-fueloil-1": ("fuel_oil", 50.0, 0.0, 200.0),  # 200 kg
    "e04-lpg-1": ("lpg", 20.0, 0.0, 100.0),  # 100 kg
    "e04-heat-1": ("heat", 10.0, 0.0, 50.0),  # 50 GJ of delivered heat
    "e04-steam-1": ("steam", 2.0, 0.0, 20.0),  # 20 t of purchased steam
}
# per carrier: (KPI total, tce, tCO2) by the shipped factor set's default coefficients
EXPECTED = {
    "coal": ("coal_kg", 10_000.0, 10_000 * 0.7143 / 1000, 10_000 * 1.9003 / 1000),
    "diesel": ("diesel_kg", 500.0, 500 * 1.4571 / 1000, 500 * 3.0959 / 1000),
    "fuel_oil": ("fuel_oil_kg", 200.0, 200 * 1.4286 / 1000, 200 * 3.1705 / 1000),
    "lpg": ("lpg_kg", 100.0, 100 * 1.7143 / 1000, 100 * 3.1013 / 1000),
    "heat": ("heat_gj", 50.0, 50 * 34.12 / 1000, 50 * 110.0 / 1000),
    "steam": ("steam_kg", 20_000.0, 20_000 * 0.1286 / 1000, 20_000 * 0.2959 / 1000),
}


def _burning_park() -> tuple[Park, ProcessingConfig, Any, pl.DataFrame]:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    ent = next(e for e in doc["parks"][0]["enterprises"] if e["id"] == "e04-cannery")
    ent["sensors"] += [
        {"id": s, "kind": k, "rated_per_h": r} for s, (k, r, _a, _b) in BURNS.items()
    ]
    registry = registry_mod.parse(doc)[0]
    assert registry is not None
    config = ProcessingConfig()
    coef = coefficients(config, load_factor_set("cn"))
    day = 1_793_548_800_000  # 2026-11-02 00:00 Asia/Shanghai
    readings = pl.DataFrame(
        [(s, day + t, v) for s, (_k, _r, a, b) in BURNS.items()
         for t, v in ((60_000, a), (86_340_000, b))],
        schema={"sensor": pl.Utf8, "ts": pl.Int64, "value": pl.Float64}, orient="row",
    )  # fmt: skip
    return Park.from_registry(registry, "tianfu-np", config), config, coef, readings


@pytest.mark.parametrize("carrier", list(EXPECTED))
def test_every_carrier_enters_energy_co2_and_the_quota_total(carrier: str) -> None:
    """Item 15: a coal boiler's 10 t of coal is 7.143 tce and 19.003 tCO2 (it was counted
    nowhere); diesel, fuel oil, LPG, purchased heat (GJ) and steam by their coefficients,
    each in its own tce field, in the totals the quota burns and in the park's rows."""
    park, config, coef, readings = _burning_park()
    rows = kpis(readings, park, config, coef, window="1d")
    e04 = rows.filter(pl.col("scope") == "e04-cannery").row(0, named=True)
    column, amount, tce, _co2 = EXPECTED[carrier]
    assert e04[column] == pytest.approx(amount)
    assert e04[f"{carrier}_tce"] == pytest.approx(tce)
    total_tce = sum(t for _c, _a, t, _co2 in EXPECTED.values())
    total_co2 = sum(c for _c, _a, _t, c in EXPECTED.values())
    assert e04["energy_tce"] == pytest.approx(total_tce)  # 12.6067 tce
    assert e04["energy_excl_renewables_tce"] == pytest.approx(total_tce)  # burns the quota
    assert e04["co2_location_t"] == pytest.approx(total_co2)  # 32.9132 t
    assert e04["co2_market_t"] == pytest.approx(total_co2)
    park_row = rows.filter(pl.col("scope") == "_park").row(0, named=True)
    assert park_row[column] == pytest.approx(amount)
    assert coef.tags()[f"{carrier}_factor"] == (
        {"coal": "raw_coal", "heat": "purchased_heat"}.get(carrier, carrier)
        if carrier != "steam" else "steam_low_pressure"
    )  # fmt: skip


# -- item 16: 单位产品能耗 against the declared national levels ---------------------------

# A made-up product for the test (no value here is from a standard): levels in kgce/t.
TEST_PRODUCT = ProductSpec(
    name="test product", unit="t", standard="GB 0000 (test data, not a standard)",
    source="test data", basis="equivalent", boundary="whole plant",
    levels_kgce={"limit": 1000.0, "entry": 900.0, "advanced": 800.0,
                 "baseline": 950.0, "benchmark": 850.0},
)  # fmt: skip


@pytest.mark.parametrize(
    ("basis", "kgce_per_t", "met"),
    [
        # 80 tce (当量值) for 90 t: 888.9 kgce/t meets 限定值 1000, 准入值 900, 基准 950; not
        # 先进值 800 nor 标杆 850
        ("equivalent", 888.9,
         {"limit": True, "entry": True, "advanced": False, "baseline": True, "benchmark": False}),
        # the standard counts electricity at 等价值: 94.5 tce, 1,050 kgce/t meets none
        ("equal_value", 1050.0,
         {"limit": False, "entry": False, "advanced": False, "baseline": False,
          "benchmark": False}),
    ],
)  # fmt: skip
def test_energy_per_unit_of_product_is_judged_against_every_declared_level(
    basis: str, kgce_per_t: float, met: dict[str, bool]
) -> None:
    frame = pl.DataFrame(
        {"scope": ["e08-anode", "e09-anode"], "output": [90.0, 90.0],
         "energy_equivalent_tce": [80.0, 80.0], "energy_equal_value_tce": [94.5, 94.5]}
    )  # fmt: skip
    product = TEST_PRODUCT.model_copy(update={"basis": basis})
    rows = against_product_limits(frame, {"e08-anode": product}).to_dicts()
    e08, e09 = rows
    assert round(e08["product_energy_kgce_per_output"], 1) == kgce_per_t
    assert {lv: e08[f"product_{lv}_met"] for lv in met} == met
    assert e08["product_advanced_kgce_per_output"] == 800.0
    assert e09["product_energy_kgce_per_output"] is None  # declares no product
    assert e09["product_limit_met"] is None


def test_a_product_without_a_national_standard_gets_no_invented_limit() -> None:
    """The example's graphite-anode, baijiu, meat and pharmaceutical enterprises: no national
    standard covers their products, so they declare none and nothing is judged."""
    registry = registry_mod.load(EXAMPLE_PARK)
    products = {e.id: e.product for e in registry.parks["tianfu-np"].enterprises if e.product}
    assert set(products) == {"e01-baijiu", "e03-meat", "e05-api", "e06-tcm", "e08-anode",
                             "e09-anode"}  # fmt: skip
    assert all(p.standard is None and not p.levels_kgce for p in products.values())
    frame = pl.DataFrame({"scope": ["e08-anode"], "output": [90.0],
                          "energy_equivalent_tce": [80.0], "energy_equal_value_tce": [94.5]})  # fmt: skip
    row = against_product_limits(frame, products).row(0, named=True)
    assert round(row["product_energy_kgce_per_output"], 1) == 888.9
    assert not any(k.endswith("_met") for k in row)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"unit": "kL"}, ".product.unit: the levels are per 'kL', the enterprise's output is "
                         "counted in 't'"),
        ({"levels_kgce": {"limit": 800.0, "advanced": 900.0}},
         ".product.levels_kgce.advanced: 900 is above limit 800"),
    ],
)  # fmt: skip
def test_a_product_declaration_is_checked_where_it_is(change: dict[str, Any], problem: str) -> None:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    ent = next(e for e in doc["parks"][0]["enterprises"] if e["id"] == "e08-anode")
    ent["product"] = TEST_PRODUCT.model_dump() | change
    assert registry_mod.parse(doc)[1] == [
        f"parks[0 id='tianfu-np'].enterprises[7 id='e08-anode']{problem}"
    ]


def test_a_registry_reload_keeps_the_volume_conversion(
    tmp_path: Path, settings: Settings, store: Influx1Store
) -> None:
    """A reload (SIGHUP) rebuilt the park without the NCV's reference temperature, so a
    gas meter counting m3 at 0 C lost its 7.3 % conversion until the next restart, and the
    live today and month to date kept computing on the park before the reload."""
    shutil.copy(EXAMPLE_PARK.parent / "factors-park.yaml", tmp_path / "factors-park.yaml")
    (tmp_path / "processing.yaml").write_text(
        "factors: [cn, factors-park.yaml]\nmethods: {gas: tianfu-gas-2026}\n"
    )
    config = load_config(tmp_path / "processing.yaml")
    coef = coefficients(config, load_factor_set(config.factors))
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    ent = next(e for e in doc["parks"][0]["enterprises"] if e["id"] == "e04-cannery")
    next(s for s in ent["sensors"] if s["id"] == "e04-gas-1")["volume_basis_c"] = 0
    registry = registry_mod.parse(doc)[0]
    assert registry is not None

    def gas_scale(park: Park) -> float:
        return float(park.meters.filter(pl.col("sensor") == "e04-gas-1")["scale"][0])

    jobs = Jobs(registry=registry, park_id="tianfu-np", config=config, coefficients=coef,
                store=store, clock=SystemClock())  # fmt: skip
    stream = StreamProcessor(
        mqtt=settings.mqtt, registry=registry, park_id="tianfu-np", config=config,
        coefficients=coef, store=store, clock=SystemClock(), client_id="reload-scale",
        limits=settings.park.decode_limits(), state_dir=tmp_path / "state",
    )  # fmt: skip
    assert round(gas_scale(jobs.park), 4) == round(gas_scale(stream.park), 4) == 1.0732
    jobs.use_registry(registry)
    stream.use_registry(registry)
    assert round(gas_scale(jobs.park), 4) == round(gas_scale(stream.park), 4) == 1.0732
    assert stream.live.park is stream.park and stream.live.reads is stream.reads
