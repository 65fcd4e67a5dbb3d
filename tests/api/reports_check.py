"""Checks of the monthly report against the API's own routes for the same month (issue
27): every figure the XLSX files is the number the KPI, quota, carbon-budget, CEMS,
completeness and alert routes serve, to the rounding shown. Called from test_api.py on
its park (one pipeline run for both)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from reports.model import NO_DATA
from smartpark import schema
from tests.api.conftest import Park

ZONE = ZoneInfo("Asia/Shanghai")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def this_month() -> tuple[str, datetime, datetime]:
    """The park's current month: ``YYYY-MM``, its start and the next month's."""
    start = datetime.now(ZONE).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return f"{start:%Y-%m}", start, (start + timedelta(days=32)).replace(day=1)


def report_path(scope: str, kind: str = "monthly") -> str:
    return f"/v1/parks/tianfu-np/scopes/{scope}/reports/{kind}"


def table(sheet: Any, first: str) -> list[list[Any]]:
    """The rows under the header row that starts with ``first``."""
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    head = next(i for i, r in enumerate(cells) if r[0] == first)
    return cells[head + 1 :]


def same(cell: Any, value: Any) -> None:
    """A filed cell against the API's value: the same number, or no data for none."""
    if value is None:
        assert cell == NO_DATA
    elif isinstance(value, bool):
        assert cell is value
    else:
        assert cell == pytest.approx(value, rel=1e-9, abs=1e-9)


def check_monthly_xlsx(park: Park, who: str, scope: str) -> dict[str, int]:
    """Fetch the report of ``scope`` as ``who`` and compare it figure by figure; returns
    how many figures of each sheet were compared."""
    period, start, end = this_month()
    answer = park.get(report_path(scope), who, period=period, format="xlsx")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == XLSX
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    span = {"start": start.isoformat(), "end": end.isoformat()}
    s = f"/v1/parks/tianfu-np/scopes/{scope}"
    kpis = park.get(f"{s}/kpis", who, window="1mo", **span).json()["points"]
    month = next(p["values"] for p in kpis if p["start_ms"] == int(start.timestamp() * 1000))
    last_span = {"start": start.replace(year=start.year - 1).isoformat(),
                 "end": end.replace(year=end.year - 1).isoformat()}  # fmt: skip
    assert park.get(f"{s}/kpis", who, window="1mo", **last_span).json()["points"] == []
    counted = {}
    for sheet in ("能源 Energy", "碳排放 CO2", "强度 Intensity"):
        rows = table(book[sheet], "指标 item")
        for _item, field, unit, now, last, change in rows:
            assert unit == schema.KPI.unit(field)
            same(now, month.get(field))
            assert last == NO_DATA and change == NO_DATA  # nothing stored a year ago
        counted[sheet] = sum(1 for r in rows if r[3] != NO_DATA)
    assert counted["能源 Energy"] >= 5 and counted["碳排放 CO2"] == 4
    days = park.get(f"{s}/kpis", who, window="1d", **span).json()["points"]
    daily = table(book["逐日 Daily"], "日期 day")
    assert [r[0] for r in daily] == [
        datetime.fromtimestamp(p["start_ms"] / 1000, ZONE).date().isoformat() for p in days
    ]
    for row, point in zip(daily, days, strict=True):
        same(row[3], point["values"].get("energy_tce"))
        same(row[5], point["values"].get("co2_location_t"))
    filed = {r[1]: r[3] for r in table(book["指标预算 Quota budget"], "指标 item")}
    budget = park.get(f"{s}/carbon-budget", who, **span).json()
    for name in ("used_co2_t", "budget_co2_t", "forecast_co2_t", "used_pct", "breached"):
        same(filed[f"carbon_budget.{name}"], budget[-1][name] if budget else None)
    if scope == "_park":
        return counted
    e = f"/v1/parks/tianfu-np/enterprises/{scope}"
    quota = park.get(f"{e}/quota", who, **span).json()
    assert quota, "the fixture's daily job burned this month's quota"
    for name in ("used_tce", "quota_tce", "forecast_tce", "used_pct", "days_elapsed"):
        same(filed[f"quota.{name}"], quota[-1][name])
    quality = park.get(f"{e}/completeness", who, **span).json()
    total = table(book["完整率 Completeness"], "传感器 sensor")[-1]
    assert total[0] == "合计 all" and quality
    same(total[1], sum(q["readings"] for q in quality))
    same(total[2], sum(q["expected"] for q in quality))
    cems = park.get(f"{e}/cems", who, **span).json()
    stacks = table(book["在线监测 CEMS"], "排口 stack")
    assert sum(r[1] for r in stacks) == len(cems)
    assert sum(sum(r[3:6]) for r in stacks) == sum(
        bool(c.get(f"{p}_mg_m3_exceeded")) for c in cems for p in schema.POLLUTANTS
    )
    span_alerts = {"since": start.isoformat(), "until": end.isoformat()}
    page = park.get("/v1/parks/tianfu-np/alerts", who, enterprise=scope, limit=200, **span_alerts)
    alerts = page.json()["alerts"]
    assert page.json()["next"] is None  # one page: all of the month's
    filed_alerts = table(book["告警 Alerts"], "触发时间 fired")
    # the fixture's alerts fire at its feed's first reading, two hours back: in the month
    # before on the 1st's first two hours
    assert alerts or park.start < start
    assert sorted(r[2] for r in filed_alerts) == sorted(a["rule"] for a in alerts)
    return counted


def additive_sums(points: list[dict[str, Any]]) -> dict[str, float]:
    """The sums of the API's KPI points' additive figures (a period's totals)."""
    sums: dict[str, float] = {}
    for p in points:
        for key, value in p["values"].items():
            if key in schema.KPI_ADDITIVE:
                sums[key] = sums.get(key, 0.0) + value
    return sums


def check_annual_xlsx(park: Park, who: str, scope: str) -> None:
    """The annual report's year figures are the sums of the API's monthly KPI points of
    the year (the fixture's park has this month only), its ratios the ratios of the sums;
    the year before says no data."""
    _period, start, _end = this_month()
    answer = park.get(report_path(scope, "annual"), who, year=start.year, format="xlsx")
    assert answer.status_code == 200, answer.text
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    first = start.replace(month=1)
    span = {"start": first.isoformat(), "end": first.replace(year=first.year + 1).isoformat()}
    s = f"/v1/parks/tianfu-np/scopes/{scope}"
    points = park.get(f"{s}/kpis", who, window="1mo", **span).json()["points"]
    assert points
    sums = additive_sums(points)
    compared = 0
    for sheet in ("能源 Energy", "综合能耗 Total"):
        for _item, field, _unit, now, last, _change in table(book[sheet], "指标 item"):
            same(now, sums.get(field))
            assert last == NO_DATA
            compared += now != NO_DATA
    assert compared >= 5
    ratios = {r[1]: r[3] for r in table(book["强度 Intensity"], "指标 item")}
    if sums.get("added_value_cny"):
        same(ratios["energy_tce_per_10k_cny"], sums["energy_tce"] / sums["added_value_cny"] * 1e4)


def _span(period: str) -> dict[str, str]:
    """The park-local bounds of ``YYYY`` or ``YYYY-MM``."""
    year, _, month = period.partition("-")
    start = datetime(int(year), int(month or 1), 1, tzinfo=ZONE)
    end = (start.replace(year=start.year + 1) if not month
           else (start + timedelta(days=32)).replace(day=1))  # fmt: skip
    return {"start": start.isoformat(), "end": end.isoformat()}


def check_ghg_xlsx(park: Park, who: str, scope: str, *, period: str) -> None:
    """The inventory's activity data and totals are the sums of the API's monthly KPI
    points of the period, its intensities their ratios, its sources add up to the stored
    total (the factor set the API reads is the one processing used), its data-quality
    total the completeness route's, and process emissions say not declared."""
    answer = park.get(report_path(scope, "ghg"), who, period=period, format="xlsx")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == XLSX
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    span = _span(period)
    points = park.get(f"/v1/parks/tianfu-np/scopes/{scope}/kpis", who, window="1mo",
                      **span).json()["points"]  # fmt: skip
    assert points
    sums = additive_sums(points)
    activity = table(book["活动数据 Activity data"], "活动数据 activity")
    assert {r[1] for r in activity} >= {"grid_kwh"}
    for _item, field, unit, value, _meters in activity:
        assert unit == schema.KPI.unit(field)
        same(value, sums[field])
    totals = {r[1]: r[3] for r in table(book["总量与强度 Totals"], "指标 item")}
    for field in ("co2_location_t", "co2_market_t", "energy_tce"):
        same(totals[field], sums[field])
    if len(points) == 1:  # one month: the ratio is the stored point's
        for field in ("co2_location_t_per_10k_cny", "co2_location_t_per_tce"):
            same(totals[field], points[0]["values"].get(field))
    assert abs(totals["reconciliation_t"]) <= 1e-9 * max(sums["co2_location_t"], 1.0)
    sources = [totals[k] for k in ("combustion_co2_t", "electricity_location_co2_t",
                                   "heat_co2_t")]  # fmt: skip
    assert sum(sources) == pytest.approx(sums["co2_location_t"], rel=1e-9)
    assert totals["process_co2_t"] == NO_DATA
    process = table(book["过程排放 Process"], "排放源 source")
    assert process[0][1] == "未申报 not declared"
    quality = park.get(f"/v1/parks/tianfu-np/enterprises/{scope}/completeness", who,
                       **span).json()  # fmt: skip
    total = table(book["数据质量 Data quality"], "传感器 sensor")[-1]
    assert total[0] == "合计 all" and quality
    same(total[1], sum(q["readings"] for q in quality))
    same(total[2], sum(q["expected"] for q in quality))
