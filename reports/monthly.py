"""The monthly energy and carbon report (issue 27, item 1) from a month's stored figures
(pure): energy by carrier in physical units and tce, renewables and the quota total, CO2
on both methods with their factors, intensities, the quota and carbon-budget burn-down,
alerts and CEMS exceedance hours, data completeness, and the same month last year with
the change. A figure that is not stored is shown as no data, never computed here: every
number is a stored one (or, for the burn-down by day, the running sum of the stored daily
figures the burn-down itself sums)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from reports.labels import label, unit
from reports.model import Cell, Chart, Report, Table
from smartpark import schema
from smartpark.carriers import FUELS
from smartpark.limits import QUOTA_FIELD, budget_field
from smartpark.model import KPI_METHOD_TAGS, PARK_SCOPE

Row = Mapping[str, Any]

FIGURE_COLUMNS = ("指标 item", "字段 field", "单位 unit", "本月 this month",
                  "去年同月 same month last year", "变化 change (%)")  # fmt: skip
VALUE_COLUMNS = ("指标 item", "字段 field", "单位 unit", "数值 value")

#: Each carrier: its physical total and its tce (``smartpark.carriers``).
CARRIERS = (
    ("grid_kwh", None), ("pv_kwh", None), ("electricity_kwh", "electricity_tce"),
    ("gas_m3", "gas_tce"), ("steam_kg", "steam_tce"),
    *((f.column, f"{f.name}_tce") for f in FUELS),
)  # fmt: skip
TOTALS = ("energy_tce", "energy_equivalent_tce", "energy_equal_value_tce",
          "energy_excl_renewables_tce", "energy_excl_feedstock_tce")  # fmt: skip
RENEWABLES = ("pv_kwh", "green_kwh", "green_unused_kwh", "certificates_kwh",
              "renewable_electricity_share_pct")  # fmt: skip
CARBON = ("co2_location_t", "co2_market_t", "co2_location_t_per_tce", "co2_market_t_per_tce")
INTENSITIES = (
    "added_value_cny", "energy_tce_per_10k_cny", "energy_excl_renewables_tce_per_10k_cny",
    "energy_tce_per_10k_cny_prev_year_prices", "co2_location_t_per_10k_cny",
    "co2_market_t_per_10k_cny", "clean_energy_share_pct", "non_fossil_share_pct",
    "clean_energy_share_grid_implied_pct", "non_fossil_share_grid_implied_pct",
)  # fmt: skip
#: Shown only where stored: output and the product's levels (declared per enterprise).
PRODUCT = (
    "output", "energy_kgce_per_output",
    "co2_location_kg_per_output", "product_energy_kgce_per_output",
    "product_limit_kgce_per_output", "product_entry_kgce_per_output",
    "product_advanced_kgce_per_output", "product_benchmark_kgce_per_output",
    "product_baseline_kgce_per_output", "carbon_efficiency_grade",
)  # fmt: skip
BURN_DOWN = ("used_{q}", "{limit}_{q}", "forecast_{q}", "used_pct", "forecast_pct",
             "days_elapsed", "days_in_month", "breached", "forecast_breach")  # fmt: skip


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """What the stores hold for one subject (an enterprise or ``_park``) and month, as the
    API's read layer returns it: rows with ``time`` (epoch ms), tags and fields."""

    park: str
    subject: str
    name: str
    month: date
    zone: ZoneInfo
    month_row: Row | None
    last_year_row: Row | None
    days: Sequence[Row]
    quota: Row | None
    budget: Row | None
    cems: Sequence[Row]
    completeness: Sequence[Row]
    alerts: Sequence[Row]
    quota_tce_month: float | None
    budget_t_month: float | None
    budget_method: str | None
    generated_ms: int
    #: a month not complete yet: last year's additive figures are to this moment (ms)
    last_year_to_ms: int | None = None


def _num(row: Row | None, name: str) -> float | None:
    value = None if row is None else row.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def change_pct(now: float | None, last: float | None) -> float | None:
    """(now - last) / |last| x 100; None without both, or when last is 0."""
    if now is None or last is None or last == 0:
        return None
    return (now - last) / abs(last) * 100


def figure_rows(names: Iterable[str], now: Row | None, last: Row | None) -> list[tuple[Cell, ...]]:
    """One row per KPI field: label, field, unit, this month, last year, change."""
    rows: list[tuple[Cell, ...]] = []
    for name in names:
        v, lv = _num(now, name), _num(last, name)
        rows.append((label(name), name, unit(name), v, lv, change_pct(v, lv)))
    return rows


def _present(names: Iterable[str], *rows: Row | None) -> list[str]:
    """The fields stored (and not 0) in any of ``rows``: a carrier neither period used is
    left out."""
    return [n for n in names if any(_num(r, n) for r in rows)]


def _day(ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, zone).date().isoformat()


def _methods(f: MonthFigures) -> tuple[str, ...]:
    row = f.month_row or (f.days[-1] if f.days else None) or {}
    tag = {k: str(row[k]) for k in KPI_METHOD_TAGS if k in row}
    at = datetime.fromtimestamp(f.generated_ms / 1000, UTC).astimezone(f.zone)
    lines = [
        f"月度能源与碳排放报告 Monthly energy and carbon report: {f.name} ({f.subject}), "
        f"{f.month:%Y-%m} ({f.zone.key})",
        "来源 Source: the stored KPI points of the month (window 1mo) and its days (1d), the "
        f"same figures the API's /kpis serves; generated {at.isoformat(timespec='seconds')}",
    ]
    if not tag:
        lines.append("本月无存储的 KPI: no KPI is stored for this month; its figures say no data")
        return tuple(lines)
    lines += [
        f"折标 Energy to tce: electricity by {tag.get('energy_basis', '?')} (factor set "
        f"{tag.get('factor_set', '?')}); gas {tag.get('gas_factor', '?')}, steam "
        f"{tag.get('steam_factor', '?')}, "
        + ", ".join(
            f"{f.name} {tag[f'{f.name}_factor']}" for f in FUELS if f"{f.name}_factor" in tag
        ),
        f"CO₂ 基于位置 location-based: grid kWh x grid factor {tag.get('grid_factor', '?')}; "
        "fuels x their CO2 factors above; self-consumed PV 0",
        "CO₂ 基于市场 market-based: green power traded with certificates x 0, the rest of the "
        f"grid kWh x residual factor {tag.get('residual_factor', '?')}; unbundled certificates "
        f"netted: {tag.get('certificates_in_market_co2', '?')}",
        f"能耗双控 Quota total ({QUOTA_FIELD}): energy less on-site PV and certified green "
        f"power (发改运行〔2022〕1258号); unbundled certificates counted: "
        f"{tag.get('certificates_in_quota', '?')}",
        "变化 Change = (this month - same month last year) / |same month last year| x 100; "
        "无数据 no data where a figure is not stored",
    ]
    if f.month_row is not None and f.month_row.get("provisional"):
        to = _num(f.month_row, "complete_to_ms")
        when = _day(int(to), f.zone) if to is not None else "?"
        lines.append(f"暂定 Provisional: the month is not complete (data complete to {when})")
    if f.last_year_row is None:
        lines.append("去年同月无存储数据 No figures are stored for the same month last year")
    elif f.last_year_to_ms is not None:
        when = datetime.fromtimestamp(f.last_year_to_ms / 1000, f.zone).strftime("%Y-%m-%d %H:%M")
        lines.append(f"去年同期 Same span last year: totals (energy, CO2, kWh, m³, CNY) of the "
                     f"same month last year to {when}, the same moment; ratios and shares its "
                     "whole month")  # fmt: skip
    return tuple(lines)


def _burn_down_rows(point: Row | None, measurement: schema.Measurement, q: str, limit: str
                    ) -> list[tuple[Cell, ...]]:  # fmt: skip
    rows: list[tuple[Cell, ...]] = []
    for pattern in BURN_DOWN:
        name = pattern.format(q=q, limit=limit)
        field = measurement.field(name)
        value = None if point is None else point.get(name)
        rows.append((field.meaning, f"{measurement.name}.{name}", field.unit, value))
    return rows


def _limits(f: MonthFigures) -> list[Table]:
    notes = []
    if f.subject == PARK_SCOPE:
        notes.append("园区无能耗指标 Quotas are per enterprise: the park has none")
    elif f.quota_tce_month is None:
        notes.append("未配置能耗指标 No energy-use quota is configured for this enterprise")
    if f.budget_t_month is None:
        notes.append("未配置碳排放预算 No carbon budget is configured")
    quota = Table("quota", "能耗指标与碳预算 Quota and carbon budget", VALUE_COLUMNS,
                  (_burn_down_rows(f.quota, schema.QUOTA, "tce", "quota")
                   if f.subject != PARK_SCOPE else [])
                  + _burn_down_rows(f.budget, schema.CARBON_BUDGET, "co2_t", "budget"),
                  tuple(notes))  # fmt: skip
    co2 = budget_field("market" if f.budget_method == "market" else "location")
    rows: list[tuple[Cell, ...]] = []
    used = co2_used = 0.0
    for day in f.days:
        used += _num(day, QUOTA_FIELD) or 0.0
        co2_used += _num(day, co2) or 0.0
        rows.append((_day(day["time"], f.zone), used, f.quota_tce_month, co2_used,
                     f.budget_t_month))  # fmt: skip
    by_day = Table(
        "burndown", "逐日累计 Burn-down by day",
        ("日期 day", f"累计 {QUOTA_FIELD} cumulative (tce)", "能耗指标 quota (tce)",
         f"累计 {co2} cumulative (tCO2)", "碳预算 budget (tCO2)"),
        rows,
        ("累计 = 各日存储值之和 the running sum of the stored daily figures the burn-down sums",),
    )  # fmt: skip
    return [quota, by_day]


def _alerts(f: MonthFigures) -> Table:
    rows: list[tuple[Cell, ...]] = [
        (datetime.fromtimestamp(a["fired_ms"] / 1000, f.zone).isoformat(timespec="minutes"),
         a["severity"], a["rule"], a["subject"], a["state"], a.get("value"),
         a.get("limit_value"), a.get("message"))
        for a in sorted(f.alerts, key=lambda a: (a["fired_ms"], a["id"]))
    ]  # fmt: skip
    counts = {
        s: sum(1 for a in f.alerts if a["severity"] == s) for s in ("critical", "warning", "info")
    }
    return Table(
        "alerts", "本月告警 Alerts of the month",
        ("触发时间 fired", "级别 severity", "规则 rule", "对象 subject", "状态 state",
         "数值 value (rule's unit)", "限值 limit (rule's unit)", "消息 message"),
        rows, ("告警数 alerts: " + ", ".join(f"{k} {v}" for k, v in counts.items()),),
    )  # fmt: skip


def _cems(f: MonthFigures) -> Table:
    stacks: dict[str, list[int]] = {}
    for r in f.cems:
        hours = stacks.setdefault(str(r["sensor"]), [0, 0, 0, 0, 0, 0])
        hours[0] += 1
        hours[1] += bool(r.get("hour_valid"))
        for i, p in enumerate(schema.POLLUTANTS, start=2):
            hours[i] += bool(r.get(f"{p}_mg_m3_exceeded"))
        hours[5] += bool(r.get("over_range"))
    rows: list[tuple[Cell, ...]] = [(s, *h) for s, h in sorted(stacks.items())]
    total = sum(h[2] + h[3] + h[4] for h in stacks.values())
    return Table(
        "cems", "在线监测超标小时 CEMS exceedance hours",
        ("排口 stack", "小时 hours (h)", "有效小时 valid hours (h)",
         *(f"{p.upper()} 超标 exceedance hours (h)" for p in schema.POLLUTANTS),
         "超量程 over-range hours (h)"),
        rows,
        (f"超标小时合计 exceedance hours (pollutant-hours): {total}" if rows
         else "本月无 CEMS 小时均值 no CEMS hourly means stored for this month",),
    )  # fmt: skip


def _completeness(f: MonthFigures) -> Table:
    sensors: dict[str, list[float]] = {}
    for r in f.completeness:
        s = sensors.setdefault(str(r["sensor"]), [0.0, 0.0, 0.0, 0.0])
        s[0] += _num(r, "readings") or 0.0
        s[1] += _num(r, "expected") or 0.0
        s[2] += 1 if r.get("complete") else 0
        s[3] += 1
    sensors = dict(sorted(sensors.items()))
    if sensors:
        sensors["合计 all"] = [sum(s[i] for s in sensors.values()) for i in range(4)]
    rows: list[tuple[Cell, ...]] = [
        (name, got, want, got / want * 100 if want else None, int(ok), int(days))
        for name, (got, want, ok, days) in sensors.items()
    ]
    return Table(
        "completeness", "数据完整率 Data completeness",
        ("传感器 sensor", "收到 readings (count)", "应收 expected (count)",
         "完整率 completeness (%)", "完整天数 complete days (d)", "天数 days (d)"),
        rows, ("完整: 收到/应收 >= 90 % complete: received / expected >= 90 % per day",),
    )  # fmt: skip


DAILY = ("electricity_kwh", "gas_m3", "energy_tce", QUOTA_FIELD, "co2_location_t",
         "co2_market_t")  # fmt: skip


def _daily(f: MonthFigures) -> Table:
    return Table(
        "daily", "逐日 Daily figures",
        ("日期 day", *(f"{label(n)} ({unit(n)})" for n in DAILY)),
        [(_day(d["time"], f.zone), *(_num(d, n) for n in DAILY)) for d in f.days],
    )  # fmt: skip


def _charts(f: MonthFigures) -> tuple[Chart, ...]:
    # every fifth day labelled (1, 5, 10, ...): thirty labels do not fit under a chart
    days = [(n if n == "1" or int(n) % 5 == 0 else "") for n in
            (str(int(_day(d["time"], f.zone)[8:])) for d in f.days)]  # fmt: skip
    burn = _limits(f)[1].rows
    shares = [(label(t).split(" ")[0], _num(f.month_row, t)) for _p, t in CARRIERS if t]
    shares = [(n, v) for n, v in shares if v]
    series: dict[str, list[float | None]] = {"累计 used": [r[1] for r in burn]}  # type: ignore[misc]
    if f.quota_tce_month is not None:
        series["能耗指标 quota"] = [f.quota_tce_month] * len(burn)
    return (
        Chart("bars", "逐日能耗 Daily energy", "tce", days,
              {"能耗 energy": [_num(d, "energy_tce") for d in f.days]}),
        Chart("lines", "逐日 CO₂ Daily CO2", "tCO2", days,
              {"基于位置 location": [_num(d, "co2_location_t") for d in f.days],
               "基于市场 market": [_num(d, "co2_market_t") for d in f.days]}),
        Chart("pie", "能源品种占比 Carrier shares", "tce", [n for n, _ in shares],
              {"tce": [v for _, v in shares]}),
        Chart("lines", "能耗指标消耗 Quota burn-down", "tce", days, series),
    )  # fmt: skip


def monthly(f: MonthFigures) -> Report:
    """The monthly report of ``f``'s subject and month."""
    now, last = f.month_row, f.last_year_row
    carriers = [n for pair in CARRIERS for n in pair if n is not None]
    energy = Table(
        "energy", "能源消费 Energy by carrier", FIGURE_COLUMNS,
        figure_rows(_present(dict.fromkeys(carriers), now, last), now, last)
        + figure_rows(TOTALS, now, last) + figure_rows(RENEWABLES, now, last),
        ("未使用的能源品种不列出 carriers used in neither period are left out",),
    )  # fmt: skip
    carbon = Table("carbon", "碳排放 CO2", FIGURE_COLUMNS, figure_rows(CARBON, now, last))
    intensity = Table("intensity", "强度与占比 Intensities and shares", FIGURE_COLUMNS,
                      figure_rows(INTENSITIES, now, last)
                      + figure_rows(_present(PRODUCT, now, last), now, last))  # fmt: skip
    return Report(
        title="月度能源与碳排放报告 Monthly energy and carbon report",
        subject=f"{f.name} ({f.subject})",
        period=f"{f.month:%Y-%m}",
        methods=_methods(f),
        tables=(
            energy,
            carbon,
            intensity,
            *_limits(f),
            _alerts(f),
            _cems(f),
            _completeness(f),
            _daily(f),
        ),
        charts=_charts(f),
    )
