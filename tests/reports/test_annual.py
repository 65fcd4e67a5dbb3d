"""The annual energy-use report from a year's stored monthly points (pure; issue 27,
item 2): year figures are the sums of the months, year ratios the ratios of the sums."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from reports import xlsx
from reports.annual import YearFigures, annual, intensities, year_sums
from reports.model import NO_DATA

ZONE = ZoneInfo("Asia/Shanghai")


def _month(year: int, month: int, **values: float) -> dict[str, Any]:
    ms = int(datetime(year, month, 1, tzinfo=ZONE).timestamp() * 1000)
    return {"time": ms, "factor_set": "cn", "provisional": False, **values}


def figures(last: list[dict[str, Any]] | None = None) -> YearFigures:
    months = [
        _month(2026, m, grid_kwh=1e6 * m, electricity_tce=122.9 * m, energy_tce=130.0 * m,
               co2_location_t=140.4 * m, added_value_cny=4e7, output=100.0 * m,
               product_energy_kgce_per_output=1000.0 + m, energy_tce_per_10k_cny=9.9,
               product_limit_kgce_per_output=1200.0)
        for m in (1, 2, 3)
    ]  # fmt: skip
    return YearFigures("tianfu-np", "e08-anode", "负极材料厂", 2026, ZONE, months, last or [],
                       {"limit": 1200.0}, 0)  # fmt: skip


def test_a_year_is_the_sum_of_its_months_and_ratios_are_ratios_of_sums() -> None:
    sums = year_sums(figures().months)
    assert sums["grid_kwh"] == 6e6 and sums["energy_tce"] == 780.0 and sums["output"] == 600.0
    assert "energy_tce_per_10k_cny" not in sums  # a ratio never adds up
    assert sums["product_energy_kgce"] == pytest.approx(1001 * 100 + 1002 * 200 + 1003 * 300)
    ratios = intensities(sums)
    assert ratios["energy_tce_per_10k_cny"] == pytest.approx(780 / 12e7 * 1e4)
    assert ratios["product_energy_kgce_per_output"] == pytest.approx(
        (1001 * 100 + 1002 * 200 + 1003 * 300) / 600
    )
    assert intensities({})["energy_tce_per_10k_cny"] is None


@pytest.mark.parametrize(
    ("last", "change"),
    [(None, None), ([_month(2025, 1, energy_tce=390.0, added_value_cny=1.2e8)], 100.0)],
)
def test_the_change_against_the_year_before(last: list | None, change: float | None) -> None:
    report = annual(figures(last))
    rows = {r[1]: r for r in report.table("total").rows}
    assert rows["energy_tce"][3] == 780.0
    assert rows["energy_tce"][5] == (pytest.approx(change) if change else None)
    intensity = {r[1]: r for r in report.table("intensity").rows}
    assert intensity["product_limit_kgce_per_output"][3] == 1200.0
    note = report.table("intensity").notes[1]
    assert ("-100.00 %" in note) if change else ("no data" in note)


def test_what_no_meter_gives_is_left_for_the_enterprise_in_the_xlsx() -> None:
    report = annual(figures())
    book = openpyxl.load_workbook(io.BytesIO(xlsx.render(report)))
    assert len(book.sheetnames) == len(report.tables)
    left = [[c.value for c in r] for r in book[book.sheetnames[-1]].iter_rows()]
    assert any(r[0] == "节能措施 energy-saving measures" for r in left)
    energy = [[c.value for c in r] for r in book[book.sheetnames[0]].iter_rows()]
    grid = next(r for r in energy if r[1] == "grid_kwh")
    assert grid[3:] == [6e6, NO_DATA, NO_DATA]


def test_the_reduction_is_at_comparable_prices_where_the_months_were_deflated() -> None:
    """Item 2: with a price index of added value (104: prices rose 4 %) the months store
    their intensity at the year before's prices; the year's is energy over the deflated
    added value, and the reduction rate says comparable prices."""
    f = figures([_month(2025, 1, energy_tce=390.0, added_value_cny=1.2e8)])
    months = [m | {"energy_tce_per_10k_cny_prev_year_prices": 9.9 * 1.04} for m in f.months]
    sums = year_sums(months)
    assert sums["added_value_prev_year_prices_cny"] == pytest.approx(12e7 / 1.04)
    comparable = 780 / 12e7 * 1e4 * 1.04
    assert intensities(sums)["energy_tce_per_10k_cny_prev_year_prices"] == pytest.approx(comparable)
    report = annual(YearFigures(**{**{k: getattr(f, k) for k in f.__slots__}, "months": months}))
    note = report.table("intensity").notes[1]
    last = 390 / 1.2e8 * 1e4
    assert f"{-(comparable - last) / last * 100:.2f} % (comparable prices" in note  # -108.00
    one_missing = [*months[:2], f.months[2]]  # a month without: no comparable year figure
    assert "added_value_prev_year_prices_cny" not in year_sums(one_missing)
