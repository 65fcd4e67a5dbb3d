"""The annual energy-use report (能源利用状况报告) of a key energy-using unit (issue 27,
item 2), from the year's stored monthly KPI points (pure): energy consumed by carrier in
physical units and tce, comprehensive energy consumption, unit product energy against
the product standard's levels, 单位工业增加值能耗 and its change, each against the year
before. A year's figure is the sum of its stored months (the totals, as the API's
scorecard sums them); a year's ratio is the ratio of those sums, never a mean of monthly
ratios. What the pipeline does not meter (purchases, stock, energy-saving measures) is
listed for the enterprise to write, never filled in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from reports.labels import label, unit
from reports.model import Cell, Report, Table
from reports.monthly import CARRIERS, TOTALS, change_pct, figure_rows
from smartpark import schema

Sums = Mapping[str, float]
FIGURE_COLUMNS = ("指标 item", "字段 field", "单位 unit", "本年 this year", "上年 the year before",
                  "变化 change (%)")  # fmt: skip

#: What the statistics form asks that no meter gives: for the enterprise to write.
FOR_THE_ENTERPRISE = (
    ("购入量 purchased", "each carrier bought in the year (quantity, amount paid), by invoice"),
    ("库存 in stock", "each carrier's stock at the start and end of the year"),
    ("加工转换 conversion", "energy converted on site (boilers, CHP) and its losses"),
    ("节能措施 energy-saving measures", "the year's measures, investment, savings (free text)"),
    ("能源管理 energy management", "the energy manager, metering plan and audits"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class YearFigures:
    """A subject's year: the sums of its stored monthly points, the year before's, how
    many months each has, each month's point, and its product's declared levels."""

    park: str
    subject: str
    name: str
    year: int
    zone: ZoneInfo
    months: Sequence[Mapping[str, object]]
    last_months: Sequence[Mapping[str, object]]
    levels: Mapping[str, float]
    generated_ms: int
    #: a year not complete yet: the year before's figures are to this moment (ms)
    last_year_to_ms: int | None = None


#: The year's added value at the year before's prices (the months' added value deflated
#: by the price index their KPI points were computed with), where every month has it.
DEFLATED = "added_value_prev_year_prices_cny"


def _num(m: Mapping[str, object], name: str) -> float | None:
    v = m.get(name)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def year_sums(months: Sequence[Mapping[str, object]]) -> dict[str, float]:
    """The sums of the months' additive figures (tce, tCO2, kWh, m³, kg, CNY), their
    output, the product standard's energy (its kgce per output x the output), and the
    added value at the year before's prices (:data:`DEFLATED`) when every month with
    added value states its intensity at those prices (a price index was configured)."""
    sums: dict[str, float] = {}
    deflated: list[float | None] = []
    for m in months:
        av, nominal = _num(m, "added_value_cny"), _num(m, "energy_tce_per_10k_cny")
        comparable = _num(m, "energy_tce_per_10k_cny_prev_year_prices")
        if av:  # the index is the ratio of the two intensities (the same energy)
            deflated.append(av * nominal / comparable if nominal and comparable else None)
        for key, value in m.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if key in schema.KPI_ADDITIVE or key == "output":
                sums[key] = sums.get(key, 0.0) + float(value)
        per, out = m.get("product_energy_kgce_per_output"), m.get("output")
        if isinstance(per, int | float) and isinstance(out, int | float):
            sums["product_energy_kgce"] = sums.get("product_energy_kgce", 0.0) + per * out
    if deflated and all(d is not None for d in deflated):
        sums[DEFLATED] = sum(d for d in deflated if d is not None)
    return sums


def _ratio(num: float | None, den: float | None, scale: float = 1.0) -> float | None:
    return None if num is None or not den else num / den * scale


def intensities(t: Sums) -> dict[str, float | None]:
    """The year's ratios from its sums: tce per 10k CNY (gross and renewables out), CO2
    per 10k CNY and per tce, kgce per unit of output (all energy, and the product
    standard's basis: the monthly figures weighted by their output)."""
    av = t.get("added_value_cny")
    return {
        "energy_tce_per_10k_cny": _ratio(t.get("energy_tce"), av, 1e4),
        "energy_tce_per_10k_cny_prev_year_prices": _ratio(
            t.get("energy_tce"), t.get(DEFLATED), 1e4
        ),
        "energy_excl_renewables_tce_per_10k_cny": _ratio(
            t.get("energy_excl_renewables_tce"), av, 1e4
        ),
        "co2_location_t_per_10k_cny": _ratio(t.get("co2_location_t"), av, 1e4),
        "co2_market_t_per_10k_cny": _ratio(t.get("co2_market_t"), av, 1e4),
        "co2_location_t_per_tce": _ratio(t.get("co2_location_t"), t.get("energy_tce")),
        "co2_market_t_per_tce": _ratio(t.get("co2_market_t"), t.get("energy_tce")),
        "energy_kgce_per_output": _ratio(t.get("energy_tce"), t.get("output"), 1e3),
        "product_energy_kgce_per_output": _ratio(t.get("product_energy_kgce"), t.get("output")),
    }


def _rows(names: Sequence[str], now: Mapping[str, float | None],
          last: Mapping[str, float | None]) -> list[tuple[Cell, ...]]:  # fmt: skip
    return [(label(n), n, unit(n), now.get(n), last.get(n), change_pct(now.get(n), last.get(n)))
            for n in names]  # fmt: skip


def annual(f: YearFigures) -> Report:
    """The annual energy-use report of ``f``'s subject and year."""
    now, last = year_sums(f.months), year_sums(f.last_months)
    carriers = [n for pair in CARRIERS for n in pair if n and (now.get(n) or last.get(n))]
    energy = Table(
        "energy", "能源消费 Energy consumed by carrier", FIGURE_COLUMNS,
        figure_rows(dict.fromkeys(carriers), now, last),
        ("年合计 = 已存储各月之和 a year's figure is the sum of its stored months",),
    )  # fmt: skip
    total = Table("total", "综合能源消费量 Comprehensive energy consumption", FIGURE_COLUMNS,
                  figure_rows(TOTALS, now, last))  # fmt: skip
    ratio_now, ratio_last = intensities(now), intensities(last)
    rows = _rows(list(ratio_now), ratio_now, ratio_last)
    rows += [(f"限额标准 {lv} product standard's {lv}", f"product_{lv}_kgce_per_output",
              unit("product_energy_kgce_per_output"), v, None, None)
             for lv, v in f.levels.items()]  # fmt: skip
    last_year = ratio_last["energy_tce_per_10k_cny"]
    comparable = change_pct(ratio_now["energy_tce_per_10k_cny_prev_year_prices"], last_year)
    nominal = change_pct(ratio_now["energy_tce_per_10k_cny"], last_year)
    rate = (
        f"{-comparable:.2f} % (comparable prices: this year's added value at the year "
        "before's, by the price index of added value the KPIs were computed with)"
        if comparable is not None
        else f"{-nominal:.2f} % (nominal prices: no price index of added value is configured "
        "for the year, processing's added_value_price_index)"
        if nominal is not None
        else "无数据 no data"
    )
    intensity = Table(
        "intensity", "单位产品能耗与单位工业增加值能耗 Unit product energy and energy intensity",
        FIGURE_COLUMNS, rows,
        ("比值 = 年合计之比 a year's ratio is the ratio of its sums",
         "单位工业增加值能耗降低率 reduction of energy per 10k CNY: " + rate),
    )  # fmt: skip
    months = Table(
        "months", "逐月 Months",
        ("月份 month", *(f"{label(n)} ({unit(n)})" for n in ("energy_tce", "co2_location_t"))),
        [(datetime.fromtimestamp(int(str(m["time"])) / 1000, f.zone).strftime("%Y-%m"),
          m.get("energy_tce"), m.get("co2_location_t")) for m in f.months],  # type: ignore[misc]
    )  # fmt: skip
    left = Table(
        "enterprise", "由企业填写 For the enterprise to write", ("项目 item", "内容 what"),
        [(a, b) for a, b in FOR_THE_ENTERPRISE],
        ("管线未计量, 不代填 not metered by the pipeline: left blank, never estimated",),
    )  # fmt: skip
    at = datetime.fromtimestamp(f.generated_ms / 1000, UTC).astimezone(f.zone)
    methods: tuple[str, ...] = (
        f"能源利用状况报告 Annual energy-use report: {f.name} ({f.subject}), {f.year}",
        f"来源 Source: the stored monthly KPI points (window 1mo): {len(f.months)} month(s) "
        f"of {f.year}, {len(f.last_months)} of {f.year - 1}; generated "
        f"{at.isoformat(timespec='seconds')}",
        "折标 Energy to tce and CO2 factors: as each month's points name them (the monthly "
        "report's method lines); 变化 change = (this year - last year) / |last year| x 100",
    )
    if f.last_year_to_ms is not None:
        when = datetime.fromtimestamp(f.last_year_to_ms / 1000, f.zone).strftime("%Y-%m-%d %H:%M")
        methods += (f"去年同期 Same span last year: the year not being complete, {f.year - 1} "
                    f"is summed to {when}, the same moment (its whole months, then the "
                    "month so far from its days, hours and minutes)",)  # fmt: skip
    return Report(
        title="能源利用状况报告 Annual energy-use report",
        subject=f"{f.name} ({f.subject})", period=str(f.year), methods=methods,
        tables=(energy, total, intensity, months, left),
    )  # fmt: skip
