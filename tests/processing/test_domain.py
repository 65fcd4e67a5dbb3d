"""Numbers an energy manager can sign: quotas without renewables, park totals that are
sums of enterprises, added value counted once, steam CO2 from delivered heat."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from processing.allocate import _year_rest, settle
from processing.config import Declared, Methods, ProcessingConfig, coefficients, load_factor_set
from processing.config import load as load_config
from processing.engine import with_park
from processing.kpis import carbon_efficiency, energy_carbon
from smartpark.errors import ConfigError
from smartpark.model import PARK_SCOPE
from tests.conftest import EXAMPLE_PARK
from tests.processing.test_kpis import COEF

EXAMPLES = EXAMPLE_PARK.parent


def test_certified_green_power_does_not_burn_the_energy_quota() -> None:
    """e08's 3 GWh green contract in a 20 GWh month: 368.7 tce of it (3,000,000 kWh x
    0.1229 kgce) stay off the quota, and the gross energy keeps them for intensities."""
    month = pl.DataFrame(
        {"scope": ["e08-anode"], "window": [0], "grid_kwh": [20_000_000.0],
         "green_kwh": [3_000_000.0], "pv_kwh": [0.0], "gas_m3": [0.0], "steam_kg": [0.0]}
    )  # fmt: skip
    row = energy_carbon(month, COEF).row(0, named=True)
    assert row["energy_tce"] == pytest.approx(2_458.0)
    assert row["energy_tce"] - row["energy_excl_renewables_tce"] == pytest.approx(368.7)
    pv = month.with_columns(green_kwh=pl.lit(0.0), pv_kwh=pl.lit(1_000_000.0))
    row = energy_carbon(pv, COEF).row(0, named=True)  # on-site PV too: 122.9 tce off
    assert row["energy_tce"] - row["energy_excl_renewables_tce"] == pytest.approx(122.9)


def test_park_totals_are_sums_of_enterprises_never_netted_across_them() -> None:
    """A imports 100 kWh with 500 kWh of green power, B imports 1,000 kWh: B's market-based
    CO2 (1,000 x 0.6096 = 0.6096 t) stays in the park's; A's unused 400 kWh are reported."""
    frame = pl.DataFrame(
        {"enterprise": ["a", "b"], "window": [0, 0], "grid_kwh": [100.0, 1_000.0],
         "green_kwh": [500.0, 0.0], "pv_kwh": [0.0, 0.0], "gas_m3": [0.0, 0.0],
         "steam_kg": [0.0, 0.0], "output": [0.0, 0.0], "readings": [1, 1], "flags": [0, 0]}
    )  # fmt: skip
    # the window is the whole month: the contract is settled against A's own import
    month = {"month_grid_kwh": pl.col("grid_kwh"), "covered_ms": 1, "month_covered_ms": 1,
             "month_ms": 1}  # fmt: skip
    frame = settle(
        frame.with_columns(contract_kwh=pl.col("green_kwh"), **month),
        contract="contract_kwh",
        used="green_kwh",
        unused="green_unused_kwh",
    )
    frame = frame.drop("contract_kwh", *month)  # fmt: skip
    rows = energy_carbon(with_park(frame).rename({"enterprise": "scope"}), COEF)
    by = {r["scope"]: r for r in rows.iter_rows(named=True)}
    assert by["a"]["co2_market_t"] == 0.0 and by["a"]["green_kwh"] == 100.0
    assert by["a"]["green_unused_kwh"] == 400.0
    assert by["b"]["co2_market_t"] == pytest.approx(0.6096)
    assert by[PARK_SCOPE]["co2_market_t"] == pytest.approx(by["a"]["co2_market_t"] + 0.6096)
    assert by[PARK_SCOPE]["green_unused_kwh"] == 400.0


def test_a_months_declaration_replaces_its_share_of_the_year() -> None:
    """365 M CNY for 2026 and 60 M for November: November's days get 2 M each, the other
    335 days share the remaining 305 M, and the year adds up to 365 M (not 395 M)."""
    declared = [
        Declared(enterprise="e08-anode", year=2026, added_value_cny=365e6),
        Declared(enterprise="e08-anode", year=2026, month=11, added_value_cny=60e6),
    ]
    rest = _year_rest(declared).row(0, named=True)
    assert rest["value_per_other_day"] == pytest.approx(305e6 / 335)
    assert 30 * 60e6 / 30 + 335 * rest["value_per_other_day"] == pytest.approx(365e6)


def test_steam_co2_comes_from_the_delivered_heat() -> None:
    """0.11 tCO2/GJ x 2.69 GJ/t delivered by saturated steam near 1 MPa: 0.296 kgCO2/kg,
    not 0.414 (the 3.763 GJ/t coal-equivalence figure)."""
    factor = load_factor_set("cn").co2_kg["steam_low_pressure"]
    assert factor.value == pytest.approx(0.11 * 2.69, rel=1e-3) and factor.verify


# -- coefficients users supply (issue 11, item 9) ---------------------------------------


def test_a_measured_gas_ncv_gives_both_coefficients_and_every_point_names_them(
    tmp_path: Path,
) -> None:
    """The park's file over the shipped set: a measured NCV of 36,200 kJ/m3 (20 C) gives
    36,200 / 29,307.6 = 1.23517 kgce/m3 and 36,200e-9 TJ x 15.3 x 0.99 x 44/12 = 2.01051
    kgCO2/m3; 100 m3 of gas is then 0.123517 tce and 0.201051 tCO2."""
    shutil.copy(EXAMPLES / "factors-park.yaml", tmp_path / "factors-park.yaml")
    (tmp_path / "processing.yaml").write_text(
        "factors: [cn, factors-park.yaml]\n"
        "methods: {gas: tianfu-gas-2026, grid_factor: sichuan-2023}\n"
    )
    config = load_config(tmp_path / "processing.yaml")  # the file is found beside it
    factors = load_factor_set(config.factors)
    assert factors.id == "cn+tianfu-park"
    assert factors.grid_kg_per_kwh["sichuan-2023"].verify is True
    assert factors.grid_kg_per_kwh["sichuan-2022"].value == 0.1404  # the shipped ones stay
    coef = coefficients(config, factors)
    assert coef.gas_kgce_per_m3 == pytest.approx(1.23517, abs=5e-6)
    assert coef.gas_co2_kg_per_m3 == pytest.approx(2.01051, abs=5e-6)
    gas = pl.DataFrame({"scope": ["e01-baijiu"], "window": [0], "gas_m3": [100.0]})
    row = energy_carbon(gas, coef).row(0, named=True)
    assert row["energy_tce"] == pytest.approx(0.123517, abs=5e-7)
    assert row["co2_location_t"] == pytest.approx(0.201051, abs=5e-7)
    assert coef.tags() == {
        "factor_set": "cn+tianfu-park", "energy_basis": "electricity_equivalent",
        "grid_factor": "sichuan-2023", "residual_factor": "national-residual-2023",
        "gas_factor": "tianfu-gas-2026", "steam_factor": "steam_low_pressure",
        "fossil_factor": "national-fossil-2023", "coal_factor": "raw_coal",
        "diesel_factor": "diesel", "fuel_oil_factor": "fuel_oil", "lpg_factor": "lpg",
        "heat_factor": "purchased_heat", "certificates_in_quota": "true",
        "certificates_in_market_co2": "false",
    }  # fmt: skip


def test_a_later_file_overrides_an_entry_by_id_and_the_older_local_gas_row_is_usable(
    tmp_path: Path,
) -> None:
    (tmp_path / "mine.yaml").write_text(
        "id: mine\ngrid_kg_per_kwh:\n  sichuan-2022: {value: 0.1500, region: sichuan, year: 2022, "
        "basis: average, source: corrected, verify: true}\n"
    )
    factors = load_factor_set(["cn", str(tmp_path / "mine.yaml")])
    assert factors.grid_kg_per_kwh["sichuan-2022"].value == 0.1500
    config = ProcessingConfig(methods=Methods(gas="natural_gas_local"))
    coef = coefficients(config, factors)
    # 35,544 kJ/m3: 1.2143 kgce/m3 (the table row) and, from the same NCV, 1.9741 kgCO2/m3
    assert (coef.gas_kgce_per_m3, coef.gas_co2_kg_per_m3) == (1.2143, 1.9741)
    assert pytest.approx(1.9741, abs=5e-5) == 35_544 / 1e9 * 15.3 * 0.99 * 44 / 12 * 1000
    assert coef.grid_co2_kg_per_kwh == 0.1500
    with pytest.raises(ConfigError, match="unknown factor set 'nope'"):
        load_factor_set(["cn", "nope"])


# -- 碳效码, the carbon-efficiency grade (issue 11, item 11) --------------------------------


def test_carbon_efficiency_level_and_grade_by_the_thresholds() -> None:
    """L = tCO2 per 10k CNY of added value; level 1 (<= 0.6), 2 (<= 2.0), 3 (> 2.0); grade by
    K = L / the industry's average 1.0: <= 0.6 -> 1, <= 0.8 -> 2, <= 1.2 -> 3, <= 2.0 -> 4,
    above -> 5. An industry without an average gets a level and no grade."""
    ls = [0.5, 0.6, 0.7, 1.0, 1.5, 2.0, 2.5, 0.9]
    frame = pl.DataFrame({"scope": [f"e{i}" for i in range(8)], "co2_location_t_per_10k_cny": ls})
    industry = {f"e{i}": "graphite" for i in range(7)} | {"e7": "unknown"}
    out = carbon_efficiency(frame, industry=industry, average_t_per_10k_cny={"graphite": 1.0})
    assert out["carbon_efficiency_level"].to_list() == [1, 1, 2, 2, 2, 2, 3, 2]
    assert out["carbon_efficiency_grade"].to_list() == [1, 1, 2, 3, 4, 4, 5, None]
    assert out["carbon_efficiency_k"][4] == pytest.approx(1.5)


def test_carbon_efficiency_comes_out_of_the_engine_with_declared_added_value() -> None:
    """e08 emits 1,404 tCO2 in a month (10 GWh x 0.1404) on 1,000 x 10k CNY of added value:
    L = 1.404, level 2; against an industry average of 1.2, K = 1.17, grade 3."""
    month = pl.DataFrame(
        {"scope": ["e08-anode"], "window": [0], "grid_kwh": [10_000_000.0],
         "added_value_cny": [10_000_000.0]}
    )  # fmt: skip
    row = carbon_efficiency(
        energy_carbon(month, COEF), industry={"e08-anode": "new_materials/graphite_anode"},
        average_t_per_10k_cny={"new_materials/graphite_anode": 1.2},
    ).row(0, named=True)  # fmt: skip
    assert row["co2_location_t_per_10k_cny"] == pytest.approx(1.404)
    assert (row["carbon_efficiency_level"], row["carbon_efficiency_grade"]) == (2, 3)
    assert row["carbon_efficiency_k"] == pytest.approx(1.17)


def test_pv_whose_certificates_were_sold_leaves_the_green_claims() -> None:
    """e12: 50,000 kWh imported, 100,000 kWh of its own PV, certificates of 40,000 kWh of it
    sold. Energy is unchanged (150,000 x 0.1229 = 18.435 tce); only 60,000 kWh of PV stay
    deducted (18.435 - 7.374 = 11.061 tce); location-based CO2 stays 50,000 x 0.1404 =
    7.02 t; market-based carries the sold 40,000 kWh at the residual factor: 90,000 x
    0.6096 = 54.864 t; the renewable share is 60,000 / 150,000 = 40 %."""
    frame = pl.DataFrame(
        {"scope": ["e12-carport"], "window": [0], "grid_kwh": [50_000.0],
         "pv_kwh": [100_000.0], "pv_sold_kwh": [40_000.0]}
    )  # fmt: skip
    row = energy_carbon(frame, COEF).row(0, named=True)
    assert row["energy_tce"] == pytest.approx(18.435)
    assert row["energy_excl_renewables_tce"] == pytest.approx(11.061)
    assert row["co2_location_t"] == pytest.approx(7.02)
    assert row["co2_market_t"] == pytest.approx(54.864)
    assert row["renewable_electricity_share_pct"] == pytest.approx(40.0)
    assert row["pv_certificates_sold_kwh"] == 40_000.0
