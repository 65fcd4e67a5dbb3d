"""The monthly report from a month's figures (pure), its XLSX read back with openpyxl and
its PDF rendered to PNG with pdftoppm (issue 27, item 1)."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from PIL import Image

from reports import pdf, xlsx
from reports.model import NO_DATA
from reports.monthly import MonthFigures, change_pct, monthly

ZONE = ZoneInfo("Asia/Shanghai")
TAGS = {"factor_set": "cn", "energy_basis": "electricity_equivalent",
        "grid_factor": "sichuan-2022", "residual_factor": "national-residual-2023",
        "gas_factor": "natural_gas", "steam_factor": "steam_low_pressure",
        "certificates_in_quota": "true", "certificates_in_market_co2": "false"}  # fmt: skip


def _ms(month: int, day: int, year: int = 2026) -> int:
    return int(datetime(year, month, day, tzinfo=ZONE).timestamp() * 1000)


def figures(last_year: dict[str, Any] | None = None, **changes: Any) -> MonthFigures:
    days = [
        {"time": _ms(11, d), **TAGS, "electricity_kwh": 800_000.0, "energy_tce": 98.3,
         "energy_excl_renewables_tce": 90.0 + d, "co2_location_t": 112.3, "co2_market_t": 480.0}
        for d in range(1, 31)
    ]  # fmt: skip
    month = {"time": _ms(11, 1), **TAGS, "grid_kwh": 24_000_000.0, "pv_kwh": 0.0,
             "electricity_kwh": 24_000_000.0, "electricity_tce": 2949.6, "gas_m3": 0.0,
             "coal_kg": 0.0, "energy_tce": 2949.6, "energy_excl_renewables_tce": 2581.0,
             "co2_location_t": 3369.6, "co2_market_t": 12_801.6, "provisional": False}  # fmt: skip
    base: dict[str, Any] = dict(
        park="tianfu-np", subject="e08-anode", name="负极材料厂", month=date(2026, 11, 1),
        zone=ZONE, month_row=month, last_year_row=last_year, days=days,
        quota={"used_tce": 2581.0, "quota_tce": 2600.0, "forecast_tce": 2581.0,
               "used_pct": 99.3, "forecast_pct": 99.3, "days_elapsed": 30.0,
               "days_in_month": 30.0, "breached": False, "forecast_breach": False},
        budget=None, quota_tce_month=2600.0, budget_t_month=None, budget_method=None,
        cems=[{"sensor": "e08-stack-1", "hour_valid": True, "nox_mg_m3_exceeded": h < 3}
              for h in range(24)],
        completeness=[{"sensor": "e08-grid-1", "readings": 1296.0, "expected": 1440.0,
                       "complete": True}] * 2,
        alerts=[{"id": "a1", "fired_ms": _ms(11, 12), "severity": "warning", "rule": "quota",
                 "subject": "e08-anode", "state": "resolved", "value": 2700.0,
                 "limit_value": 2600.0, "message": "月末预计超出指标"}],
        generated_ms=_ms(12, 1),
    )  # fmt: skip
    return MonthFigures(**(base | changes))


@pytest.mark.parametrize(
    ("now", "last", "change"),
    [(110.0, 100.0, 10.0), (90.0, 100.0, -10.0), (-5.0, -10.0, 50.0), (1.0, None, None),
     (None, 1.0, None), (5.0, 0.0, None)],
)  # fmt: skip
def test_the_change_against_last_year(now: float | None, last: float | None,
                                      change: float | None) -> None:  # fmt: skip
    assert change_pct(now, last) == (pytest.approx(change) if change is not None else None)


def _rows(key: str, f: MonthFigures) -> dict[str, tuple[Any, ...]]:
    return {str(r[1]): r for r in monthly(f).table(key).rows}


def test_stored_figures_are_shown_and_missing_ones_say_no_data() -> None:
    energy = _rows("energy", figures())
    assert energy["grid_kwh"][3:] == (24_000_000.0, None, None)
    assert energy["energy_equal_value_tce"][3] is None  # not stored: no data, never 0
    assert "gas_m3" not in energy and "coal_kg" not in energy  # used in neither period
    last = _rows("energy", figures({"grid_kwh": 20_000_000.0, "gas_m3": 1000.0}))
    assert last["grid_kwh"][3:] == (24_000_000.0, 20_000_000.0, pytest.approx(20.0))
    assert last["gas_m3"][3:] == (0.0, 1000.0, pytest.approx(-100.0))
    assert "No figures are stored for the same month last year" in " ".join(
        monthly(figures()).methods
    )
    empty = monthly(figures(month_row=None, days=[]))
    assert all(r[3] is None for r in empty.table("carbon").rows)
    assert "no KPI is stored for this month" in " ".join(empty.methods)


def test_the_method_lines_name_the_factors() -> None:
    methods = " ".join(monthly(figures()).methods)
    for factor in ("sichuan-2022", "national-residual-2023", "electricity_equivalent",
                   "natural_gas", "factor set cn"):  # fmt: skip
        assert factor in methods


def test_burn_down_alerts_cems_and_completeness() -> None:
    report = monthly(figures())
    burn = report.table("burndown").rows
    assert burn[0][1:3] == (91.0, 2600.0)
    assert burn[-1][1] == pytest.approx(sum(90.0 + d for d in range(1, 31)))
    assert [r[1] for r in report.table("quota").rows[:2]] == ["quota.used_tce", "quota.quota_tce"]
    assert report.table("cems").rows == [("e08-stack-1", 24, 24, 0, 3, 0, 0)]
    assert report.table("completeness").rows[-1] == ("合计 all", 2592.0, 2880.0, 90.0, 2, 2)
    assert [a[1:5] for a in report.table("alerts").rows] == [
        ("warning", "quota", "e08-anode", "resolved")
    ]
    assert "No carbon budget is configured" in report.table("quota").notes[0]


def test_the_xlsx_has_a_sheet_per_section_numbers_as_numbers_and_units() -> None:
    report = monthly(figures())
    book = openpyxl.load_workbook(io.BytesIO(xlsx.render(report)))
    assert len(book.sheetnames) == len(report.tables)
    sheet = book["能源 Energy"]
    assert sheet["A1"].value == report.title
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert any("sichuan-2022" in str(r[0]) for r in cells[:10])  # method lines on top
    header = cells.index(["指标 item", "字段 field", "单位 unit", "本月 this month",
                          "去年同月 same month last year", "变化 change (%)"])  # fmt: skip
    rows = {r[1]: r for r in cells[header + 1 :]}
    assert rows["grid_kwh"][2:] == ["kWh", 24_000_000.0, NO_DATA, NO_DATA]
    assert isinstance(rows["energy_tce"][3], float)
    daily = [[c.value for c in row] for row in book["逐日 Daily"].iter_rows()]
    assert any(str(v).endswith("(tce)") for v in next(r for r in daily if r[0] == "日期 day"))


def pdf_pages(body: bytes, out: Path) -> list[Path]:
    """The PDF rendered to PNGs at 50 dpi by pdftoppm (poppler-utils)."""
    assert shutil.which("pdftoppm"), "pdftoppm missing: ./dev setup installs poppler-utils"
    (out / "report.pdf").write_bytes(body)
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(out / "report.pdf"), str(out / "page")],
                   check=True, timeout=60)  # fmt: skip
    return sorted(out.glob("page-*.png"))


def inked(png: Path) -> float:
    """The share of a page's pixels that are not white."""
    image = Image.open(png).convert("L")
    histogram = image.histogram()
    return 1 - sum(histogram[245:]) / (image.width * image.height)


def test_the_pdf_renders_with_charts_and_tables(tmp_path: Path) -> None:
    pages = pdf_pages(pdf.render(monthly(figures())), tmp_path)
    assert len(pages) >= 3  # charts, then the tables
    assert all(inked(p) > 0.005 for p in pages), [inked(p) for p in pages]
