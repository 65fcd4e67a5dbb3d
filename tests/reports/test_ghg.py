"""The greenhouse-gas inventory from a period's stored monthly points (pure; issue 27,
item 3): each source is its activity x the coefficient its point names, the sources
reconcile with the stored totals, what is not declared or not known says so."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from reports import xlsx
from reports.ghg import NOT_DECLARED, GhgFigures, Meter, ghg, source_t
from reports.model import NO_DATA
from smartpark.factorset import FactorSet, load_factor_set

ZONE = ZoneInfo("Asia/Shanghai")
CN = load_factor_set("cn")
TAGS = {"factor_set": "cn", "grid_factor": "sichuan-2022",
        "residual_factor": "national-residual-2023", "gas_factor": "natural_gas",
        "steam_factor": "steam_low_pressure", "coal_factor": "raw_coal",
        "diesel_factor": "diesel"}  # fmt: skip


def _month(month: int, **values: Any) -> dict[str, Any]:
    """A stored month as processing computes it: 1e6 kWh (100,000 of it green), 10,000
    m3 of gas, 20 t of coal, 5 t of steam."""
    grid, green, gas, coal, steam = 1e6, 1e5, 1e4, 2e4, 5e3
    fuel = gas * 2.1622 / 1000 + coal * 1.9003 / 1000 + steam * 0.2959 / 1000
    row = {"time": int(datetime(2026, month, 1, tzinfo=ZONE).timestamp() * 1000), **TAGS,
           "grid_kwh": grid, "green_kwh": green, "gas_m3": gas, "coal_kg": coal,
           "steam_kg": steam, "energy_tce": 200.0, "added_value_cny": 5e6,
           "co2_location_t": grid * 0.1404 / 1000 + fuel,
           "co2_market_t": (grid - green) * 0.6096 / 1000 + fuel, "provisional": False}  # fmt: skip
    return row | values


def figures(months: list[dict[str, Any]], factors: FactorSet | None = CN) -> GhgFigures:
    meters = [Meter("e08-grid-1", "electricity", "e08-anode", None, 60),
              Meter("e08-gas-1", "gas", "e08-anode", None, 60),
              Meter("e08-stack-1", "emissions", "e08-anode", None, 60)]  # fmt: skip
    quality = [{"sensor": "e08-grid-1", "readings": 1296.0, "expected": 1440.0,
                "complete": True}] * 2  # fmt: skip
    return GhgFigures("tianfu-np", "e08-anode", "负极材料厂", "2026", ZONE, months, 12,
                      [("e08-anode", "负极材料厂", "graphite anode")], meters, quality,
                      factors, 0)  # fmt: skip


def _rows(report: Any, key: str) -> dict[str, tuple]:
    return {str(r[1]): r for r in report.table(key).rows}


def test_each_source_is_activity_times_its_named_coefficient_and_they_reconcile() -> None:
    report = ghg(figures([_month(1), _month(2)]))
    combustion = _rows(report, "combustion")
    assert set(combustion) == {"gas_m3", "coal_kg"}  # diesel, named but not used: left out
    assert "diesel" not in _rows(report, "factors")
    assert combustion["gas_m3"][3:] == (2e4, "natural_gas", 2.1622, pytest.approx(43.244))
    assert combustion["coal_kg"][6] == pytest.approx(4e4 * 1.9003 / 1000)
    purchased = {r[0]: r for r in report.table("purchased").rows}
    location = next(r for k, r in purchased.items() if "location" in str(k))
    market = next(r for k, r in purchased.items() if "market" in str(k))
    assert location[4:] == ("sichuan-2022", 0.1404, pytest.approx(2e6 * 0.1404 / 1000))
    assert market[6] == pytest.approx(1.8e6 * 0.6096 / 1000)
    totals = _rows(report, "totals")
    assert totals["reconciliation_t"][3] == pytest.approx(0.0, abs=1e-9)
    assert totals["process_co2_t"][3] is None
    assert totals["co2_location_t_per_10k_cny"][3] == pytest.approx(
        totals["co2_location_t"][3] / 1e7 * 1e4  # ratio of the sums
    )
    assert report.table("process").rows == [("过程排放 process emissions", NOT_DECLARED, None)]


def test_a_month_on_another_factor_takes_its_own_coefficient() -> None:
    months = [_month(1), _month(2, gas_factor="natural_gas_local")]
    assert source_t(months, CN, "gas_m3", "gas_factor") == pytest.approx(
        1e4 * (2.1622 + 1.9741) / 1000
    )
    factors = _rows(ghg(figures(months)), "factors")
    assert {"natural_gas", "natural_gas_local"} <= set(factors)


@pytest.mark.parametrize(
    ("factors", "months"),
    [(None, [_month(1)]), (CN, [_month(1, coal_factor="a-coal-not-in-the-set")])],
    ids=["factor set unreadable", "id not in the set"],
)
def test_an_unknown_coefficient_is_no_data_not_a_guess(factors: FactorSet | None,
                                                       months: list) -> None:  # fmt: skip
    report = ghg(figures(months, factors))
    assert _rows(report, "combustion")["coal_kg"][6] is None
    assert _rows(report, "totals")["reconciliation_t"][3] is None
    assert _rows(report, "totals")["co2_location_t"][3] == months[0]["co2_location_t"]


def test_data_quality_counts_coverage_and_gaps_without_estimating() -> None:
    report = ghg(figures([_month(1, provisional=True)]))
    quality = report.table("quality")
    total = quality.rows[-1]
    assert total[0] == "合计 all" and total[1:4] == (2592.0, 2880.0, 90.0)
    assert total[6:] == (288.0, 288 * 60 / 3600)
    assert "1 of 2 registered energy meters" in quality.notes[0] and "e08-gas-1" in quality.notes[0]
    assert "1 of 12 stored" in quality.notes[1] and "1 provisional" in quality.notes[1]


def test_the_xlsx_has_a_sheet_per_section_with_numbers_as_numbers() -> None:
    report = ghg(figures([_month(1)]))
    book = openpyxl.load_workbook(io.BytesIO(xlsx.render(report)))
    assert len(book.sheetnames) == len(report.tables) == 10
    cells = [[c for c in r] for r in book["燃料燃烧 Combustion"].iter_rows()]
    gas = next(r for r in cells if r[1].value == "gas_m3")
    assert gas[3].value == 1e4 and gas[5].number_format == "0.0000"
    process = [[c.value for c in r] for r in book["过程排放 Process"].iter_rows()]
    assert ["过程排放 process emissions", NOT_DECLARED, NO_DATA] in process
    assert "GB/T 32150-2015" in book["边界 Boundary"]["A3"].value
