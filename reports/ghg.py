"""The greenhouse-gas inventory (issue 27, item 3) of an enterprise or the park for a year
or a month, from the stored monthly KPI points (pure), in the structure of GB/T
32150-2015 and the MEE/NDRC industry guidelines: boundary, fossil fuel combustion,
process emissions, purchased electricity and heat (location- and market-based), totals
and intensity, the activity-data and factor tables, data quality, and what is left for
the enterprise.

Every activity figure and both totals are stored KPI figures (a period's figure is the
sum of its stored months, as the annual report's). A source's CO2 is its activity x the
coefficient the month's KPI point names by id, looked up in the factor set the
processing configuration chooses; the sources' sum is reconciled with the stored total
on the sheet. Market-based electricity is the stored market-based total less the other
sources. What the pipeline does not have is said, never estimated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from reports.annual import intensities, year_sums
from reports.labels import label, unit
from reports.model import Cell, Chart, Report, Table
from smartpark.carriers import FUELS, STEAM_KIND
from smartpark.factorset import KJ_PER_KGCE, FactorSet

Row = Mapping[str, object]

#: Fossil fuels burnt on site (scope 1): the KPI total and the tag naming its factor.
COMBUSTION = (("gas_m3", "gas_factor"),
              *((f.column, f"{f.name}_factor") for f in FUELS if f.name != "heat"))  # fmt: skip
#: Purchased heat (scope 2 beside electricity): steam and heat delivered.
HEAT = (("steam_kg", "steam_factor"), ("heat_gj", "heat_factor"))
#: The registry kinds that meter energy, and the KPI total each feeds.
ENERGY_KINDS = {"electricity": "grid_kwh", "pv": "pv_kwh", "gas": "gas_m3",
                STEAM_KIND: "steam_kg", **{f.kind: f.column for f in FUELS}}  # fmt: skip
VALUE_COLUMNS = ("指标 item", "字段 field", "单位 unit", "数值 value")
SOURCE_COLUMNS = ("排放源 source", "字段 field", "单位 unit", "活动数据 activity data",
                  "因子 factor id", "CO2 排放因子 factor (kgCO2 per unit)",
                  "排放量 emissions (tCO2)")  # fmt: skip
NOT_DECLARED = "未申报 not declared"

#: What GB/T 32150 and the industry guidelines ask that the pipeline does not have.
FOR_THE_ENTERPRISE = (
    ("过程排放 process emissions", "industrial-process sources (e.g. anode baking, carbonate "
     "decomposition, reductants) by the industry guideline's method: none declared in the "
     "registry, none computed"),
    ("实测参数 measured parameters", "a fuel's measured NCV, carbon content and oxidation "
     "rate where the guideline asks for measurement (the factor set holds defaults)"),
    ("移动源与未计量设施 unmetered sources", "vehicles, emergency generators and other "
     "sources without a registered meter"),
    ("非 CO2 气体 non-CO2 gases", "CH4, N2O, HFCs, PFCs, SF6, NF3 (GB/T 32150 covers seven "
     "gases; the pipeline accounts CO2 only)"),
    ("回收利用 CO2 recovered", "CO2 captured, recovered or used (deducted by the guideline)"),
    ("输出电力和热力 exported energy", "electricity and heat supplied to others"),
    ("不确定性与质量管理 uncertainty, monitoring plan", "the uncertainty assessment, the "
     "monitoring plan and the quality-management records"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Meter:
    """A registered sensor within the boundary: id, kind, its enterprise and description,
    how often it reports."""

    sensor: str
    kind: str
    enterprise: str
    description: str | None
    interval_s: int


@dataclass(frozen=True, slots=True)
class GhgFigures:
    """A subject's period: its stored monthly points, how many months the period has, the
    boundary's meters and their stored completeness (``data_quality`` rows), and the factor
    set the processing configuration chooses (None when it cannot be read)."""

    park: str
    subject: str
    name: str
    period: str
    zone: ZoneInfo
    months: Sequence[Row]
    months_in_period: int
    enterprises: Sequence[tuple[str, str, str]]  # id, name, industry
    meters: Sequence[Meter]
    completeness: Sequence[Row]
    factors: FactorSet | None
    generated_ms: int


def _num(row: Row, name: str) -> float:
    value = row.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _co2(factors: FactorSet | None, factor_id: str | None) -> float | None:
    """kgCO2 per unit of the coefficient ``factor_id`` (a grid factor or a carrier's)."""
    if factors is None or factor_id is None:
        return None
    if factor_id in factors.grid_kg_per_kwh:
        return factors.grid_kg_per_kwh[factor_id].value
    c = factors.co2_kg.get(factor_id)
    return None if c is None else c.value


def _ids(months: Sequence[Row], tag: str, column: str | None = None) -> list[str]:
    """The factor ids ``tag`` names in the months (those that used ``column``, if given)."""
    return list(dict.fromkeys(
        str(m[tag]) for m in months
        if m.get(tag) is not None and (column is None or _num(m, column))
    ))  # fmt: skip


def source_t(months: Sequence[Row], factors: FactorSet | None, column: str,
             tag: str) -> float | None:  # fmt: skip
    """A source's tCO2 over the months: each month's activity x the coefficient its point
    names; None when a used coefficient is unknown (0 where nothing was used)."""
    total = 0.0
    for m in months:
        activity = _num(m, column)
        if not activity:
            continue
        coef = _co2(factors, str(m.get(tag)) if m.get(tag) is not None else None)
        if coef is None:
            return None
        total += activity * coef / 1000
    return total


def _source_rows(f: GhgFigures, sources: Sequence[tuple[str, str]],
                 sums: Mapping[str, float]) -> list[tuple[Cell, ...]]:  # fmt: skip
    rows: list[tuple[Cell, ...]] = []
    for column, tag in sources:
        ids = _ids(f.months, tag, column)
        if not sums.get(column):
            continue
        one = ids[0] if len(ids) == 1 else None
        rows.append((label(column), column, unit(column), sums.get(column, 0.0),
                     " / ".join(ids) or None, _co2(f.factors, one),
                     source_t(f.months, f.factors, column, tag)))  # fmt: skip
    return rows


def _sum(values: Sequence[Cell]) -> float | None:
    """The sum of figures, None when one is unknown."""
    known = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return None if len(known) < len(values) else float(sum(known))


def _opt(row: Row, name: str) -> float | None:
    value = row.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _factor_rows(f: GhgFigures) -> list[tuple[Cell, ...]]:
    rows: list[tuple[Cell, ...]] = []
    roles = [("grid_factor", "电网排放因子（基于位置）grid, location-based", None),
             ("residual_factor", "剩余电网排放因子（基于市场）residual, market-based", None),
             *((tag, label(col), col) for col, tag in (*COMBUSTION, *HEAT))]  # fmt: skip
    fs = f.factors
    for tag, role, column in roles:
        for fid in _ids(f.months, tag, column):
            grid = fs.grid_kg_per_kwh.get(fid) if fs else None
            co2 = fs.co2_kg.get(fid) if fs else None
            kgce = fs.energy_kgce.get(fid) if fs else None
            found = grid or co2
            ncv = kgce.value * KJ_PER_KGCE if kgce is not None else None
            vintage = grid.year if grid else co2.vintage if co2 else None
            rows.append((role, fid, found.value if found else None,
                         "kgCO2/kWh" if grid else co2.unit if co2 else None,
                         kgce.value if kgce else None, ncv, found.source if found else None,
                         None if vintage is None else str(vintage),
                         found.verify if found else None))  # fmt: skip
    return rows


def _quality(f: GhgFigures) -> Table:
    by: dict[str, list[float]] = {}
    for r in f.completeness:
        s = by.setdefault(str(r.get("sensor")), [0.0, 0.0, 0.0, 0.0])
        s[0] += _num(r, "readings")
        s[1] += _num(r, "expected")
        s[2] += 1 if r.get("complete") else 0
        s[3] += 1
    interval = {m.sensor: m.interval_s for m in f.meters}
    rows: list[tuple[Cell, ...]] = []
    gap_readings = gap_h = 0.0
    for sensor, (got, want, ok, days) in sorted(by.items()):
        missing = max(want - got, 0.0)
        hours = missing * interval.get(sensor, 60) / 3600
        gap_readings, gap_h = gap_readings + missing, gap_h + hours
        rows.append((sensor, got, want, got / want * 100 if want else None, int(ok), int(days),
                     missing, hours))  # fmt: skip
    got, want = sum(s[0] for s in by.values()), sum(s[1] for s in by.values())
    if rows:
        rows.append(("合计 all", got, want, got / want * 100 if want else None,
                     int(sum(s[2] for s in by.values())), int(sum(s[3] for s in by.values())),
                     gap_readings, gap_h))  # fmt: skip
    energy = [m for m in f.meters if m.kind in ENERGY_KINDS]
    reported = [m for m in energy if by.get(m.sensor, [0.0])[0] > 0]
    provisional = sum(1 for m in f.months if m.get("provisional"))
    notes = (
        f"计量覆盖 meter coverage: {len(reported)} of {len(energy)} registered energy meters "
        "reported in the period"
        + (f" (none from: {', '.join(m.sensor for m in energy if m not in reported)})"
           if len(reported) < len(energy) else ""),
        f"月份 months: {len(f.months)} of {f.months_in_period} stored (window 1mo), "
        f"{provisional} provisional (not complete yet)",
        "完整率 = 收到 / 应收 (the stored data_quality points, per sensor and day; complete "
        ">= 90 %); 缺失时长 gap hours = missing readings x the sensor's interval",
        "缺口不估算 gaps are not estimated: a counter's use across a gap is the register "
        "difference (measured), a gauge's gap has no value; nothing is filled in",
    )  # fmt: skip
    return Table(
        "quality", "数据质量 Data quality",
        ("传感器 sensor", "收到 readings (count)", "应收 expected (count)",
         "完整率 completeness (%)", "完整天数 complete days (d)", "天数 days (d)",
         "缺失 missing readings (count)", "缺失时长 gap hours (h)"),
        rows, notes,
    )  # fmt: skip


def _methods(f: GhgFigures) -> tuple[str, ...]:
    at = datetime.fromtimestamp(f.generated_ms / 1000, UTC).astimezone(f.zone)
    stored = _ids(f.months, "factor_set")
    loaded = f.factors.id if f.factors else None
    lines = [
        f"温室气体排放报告 Greenhouse-gas inventory: {f.name} ({f.subject}), {f.period}",
        "结构 Structure: GB/T 32150-2015 工业企业温室气体排放核算和报告通则 and the MEE/NDRC "
        "industry guideline (温室气体排放核算方法与报告指南) of the enterprise's industry; "
        "CO2 only",
        "来源 Source: the stored KPI points (window 1mo), the figures the API's /kpis serves; "
        f"a period's figure is the sum of its months; generated {at.isoformat(timespec='seconds')}",
        "燃料燃烧 Combustion = activity data x the CO2 coefficient the point names (NCV x carbon "
        "content x oxidation x 44/12, folded into the coefficient; its source line says how)",
        f"因子集 Factor set: the KPI points name {' / '.join(stored) or '?'}; the coefficients "
        f"shown are from {loaded or 'no readable factor set (values unknown)'}"
        + ("" if loaded is None or loaded in stored else " (not the one the points name)"),
    ]
    return tuple(lines)


#: The sections' order: the summary first (GB/T 32150's report puts the emissions before
#: the activity data and factors they are made of).
ORDER = ("totals", "combustion", "process", "purchased", "boundary", "activity", "factors",
         "quality", "months", "enterprise")  # fmt: skip


def _in_order(*tables: Table) -> tuple[Table, ...]:
    return tuple(sorted(tables, key=lambda t: ORDER.index(t.key)))


def ghg(f: GhgFigures) -> Report:
    """The greenhouse-gas inventory of ``f``'s subject and period."""
    sums = year_sums(f.months)
    ratios = intensities(sums)
    combustion = _source_rows(f, COMBUSTION, sums)
    heat = _source_rows(f, HEAT, sums)
    fuel_t = _sum([r[6] for r in combustion])
    heat_t = _sum([r[6] for r in heat])
    grid = sums.get("grid_kwh", 0.0)
    location_elec = source_t(f.months, f.factors, "grid_kwh", "grid_factor")
    loc, mkt = sums.get("co2_location_t"), sums.get("co2_market_t")
    market_elec = (None if mkt is None or fuel_t is None or heat_t is None
                   else mkt - fuel_t - heat_t)  # fmt: skip
    grid_ids = " / ".join(_ids(f.months, "grid_factor")) or None
    residual_ids = " / ".join(_ids(f.months, "residual_factor")) or None
    one_grid, one_res = _ids(f.months, "grid_factor"), _ids(f.months, "residual_factor")
    purchased: list[tuple[Cell, ...]] = [
        ("外购电力（基于位置）grid electricity, location-based", "grid_kwh", unit("grid_kwh"),
         grid, grid_ids, _co2(f.factors, one_grid[0]) if len(one_grid) == 1 else None,
         location_elec),
        ("外购电力（基于市场）grid electricity, market-based", "grid_kwh", unit("grid_kwh"),
         grid, residual_ids, _co2(f.factors, one_res[0]) if len(one_res) == 1 else None,
         market_elec),
        (label("green_kwh"), "green_kwh", unit("green_kwh"), sums.get("green_kwh", 0.0),
         "零排放 zero (traded)", 0.0, 0.0),
        (label("pv_kwh"), "pv_kwh", unit("pv_kwh"), sums.get("pv_kwh", 0.0),
         "零排放 zero (on site)", 0.0, 0.0),
        *heat,
    ]  # fmt: skip
    sources_loc = _sum([fuel_t, location_elec, heat_t])
    totals: list[tuple[Cell, ...]] = [
        ("化石燃料燃烧 fossil fuel combustion", "combustion_co2_t", "tCO2", fuel_t),
        ("工业生产过程 process emissions", "process_co2_t", "tCO2", None),
        ("外购电力（基于位置）purchased electricity, location-based", "electricity_location_co2_t",
         "tCO2", location_elec),
        ("外购电力（基于市场）purchased electricity, market-based", "electricity_market_co2_t",
         "tCO2", market_elec),
        ("外购热力 purchased heat and steam", "heat_co2_t", "tCO2", heat_t),
        (label("co2_location_t"), "co2_location_t", unit("co2_location_t"), loc),
        (label("co2_market_t"), "co2_market_t", unit("co2_market_t"), mkt),
        ("核对: 各源之和 - 存储值 reconciliation: sources (location) - stored total",
         "reconciliation_t", "tCO2", None if sources_loc is None or loc is None
         else sources_loc - loc),
        *((label(n), n, unit(n), sums.get(n)) for n in ("energy_tce", "added_value_cny")),
        *((label(n), n, unit(n), ratios[n]) for n in (
            "co2_location_t_per_10k_cny", "co2_market_t_per_10k_cny", "co2_location_t_per_tce",
            "co2_market_t_per_tce")),
    ]  # fmt: skip
    activity: list[tuple[Cell, ...]] = [
        (label(c), c, unit(c), sums.get(c, 0.0),
         ", ".join(m.sensor for m in f.meters if ENERGY_KINDS.get(m.kind) == c) or None)
        for c in ("grid_kwh", "pv_kwh", "green_kwh", "certificates_kwh",
                  *(c for c, _t in (*COMBUSTION, *HEAT)))
        if sums.get(c)
    ]  # fmt: skip
    enterprises = {e[0]: e for e in f.enterprises}
    boundary = Table(
        "boundary", "核算边界 Boundary",
        ("计量器具 meter", "种类 kind", "企业 enterprise", "行业 industry", "计入 feeds",
         "说明 description"),
        [(m.sensor, m.kind, m.enterprise, enterprises.get(m.enterprise, ("", "", ""))[2],
          ENERGY_KINDS.get(m.kind), m.description) for m in f.meters],
        (f"报告主体 reporting entity: {f.name} ({f.subject}), park {f.park}; the enterprises "
         f"and meters of the registry: {', '.join(e[0] for e in f.enterprises)}",
         "设施边界 facilities outside the registry (vehicles, unmetered equipment) are not "
         "included: see the last sheet"),
    )  # fmt: skip
    process = Table(
        "process", "工业生产过程排放 Process emissions",
        ("排放源 source", "状态 status", "排放量 emissions (tCO2)"),
        [("过程排放 process emissions", NOT_DECLARED, None)],
        ("登记册未申报过程排放源 the registry declares no process-emission source for "
         f"{f.subject}; the pipeline computes none and does not estimate them",),
    )  # fmt: skip
    months = Table(
        "months", "逐月 Months",
        ("月份 month", *(f"{label(n)} ({unit(n)})" for n in ("co2_location_t", "co2_market_t"))),
        [(datetime.fromtimestamp(int(str(m["time"])) / 1000, f.zone).strftime("%Y-%m"),
          _opt(m, "co2_location_t"), _opt(m, "co2_market_t")) for m in f.months],
    )  # fmt: skip
    parts: list[tuple[str, Cell]] = [(str(r[0]).split(" ")[0], r[6]) for r in (*combustion, *heat)]
    parts.append(("外购电力", location_elec))
    shares = [(n, float(v)) for n, v in parts if isinstance(v, float) and v > 0]
    return Report(
        title="温室气体排放报告 Greenhouse-gas inventory",
        subject=f"{f.name} ({f.subject})",
        period=f.period,
        methods=_methods(f),
        tables=_in_order(
            boundary,
            Table(
                "combustion",
                "化石燃料燃烧排放 Fossil fuel combustion",
                SOURCE_COLUMNS,
                combustion,
                ("未使用的燃料不列出 fuels not used are left out",),
            ),
            process,
            Table(
                "purchased",
                "净购入电力和热力 Purchased electricity and heat",
                SOURCE_COLUMNS,
                purchased,
                (
                    "基于市场 market-based: the stored co2_market_t less combustion and heat "
                    "(green power traded with certificates x 0, the rest x the residual "
                    "factor; the KPI's certificates_in_market_co2 tag says if unbundled "
                    "certificates were netted); self-consumed PV 0",
                ),
            ),
            Table(
                "totals",
                "排放总量与强度 Totals and intensity",
                VALUE_COLUMNS,
                totals,
                (
                    "总量 = 存储的 KPI 之和 the totals are the stored KPI figures; 强度 = 总量之比 "
                    "intensities are ratios of the sums",
                ),
            ),
            Table(
                "activity",
                "活动数据 Activity data",
                ("活动数据 activity", "字段 field", "单位 unit", "数值 value", "计量器具 meters"),
                activity,
                ("来源 stored KPI points (1mo), metered by the sensors listed",),
            ),
            Table(
                "factors",
                "排放因子 Factors",
                (
                    "用途 role",
                    "因子 factor id",
                    "数值 value",
                    "单位 unit",
                    "折标系数 (kgce per unit)",
                    "低位发热量 NCV = kgce x 29,307.6 (kJ per unit)",
                    "来源 source",
                    "年份 vintage",
                    "待核实 verify",
                ),
                _factor_rows(f),
                (
                    "含碳量与氧化率已含于排放因子 carbon content and oxidation are folded into the "
                    "coefficient (its source line); measured values are the enterprise's",
                ),
            ),
            _quality(f),
            months,
            Table(
                "enterprise",
                "由企业补充 Left for the enterprise",
                ("项目 item", "内容 what"),
                list(FOR_THE_ENTERPRISE),
                ("管线无此数据, 不代填 the pipeline does not have these: never estimated",),
            ),
        ),
        charts=(
            Chart(
                "pie",
                "排放源构成（基于位置）Sources, location-based",
                "tCO2",
                [n for n, _ in shares],
                {"tCO2": [v for _, v in shares]},
            ),
            Chart(
                "bars",
                "逐月排放 CO2 by month",
                "tCO2",
                [str(r[0])[5:] for r in months.rows],
                {
                    "基于位置 location": [_opt(m, "co2_location_t") for m in f.months],
                    "基于市场 market": [_opt(m, "co2_market_t") for m in f.months],
                },
            ),
        ),
    )
