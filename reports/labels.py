"""What a report calls each stored figure, in Chinese and English, with its unit from
``smartpark.schema`` (the same definition the writer encodes the number with)."""

from __future__ import annotations

from smartpark import schema
from smartpark.carriers import FUELS

_ZH_FUELS = {"coal": "原煤", "diesel": "柴油", "fuel_oil": "燃料油", "lpg": "液化石油气",
             "heat": "外购热力"}  # fmt: skip

ZH: dict[str, str] = {
    "grid_kwh": "外购电力（电网）",
    "pv_kwh": "光伏发电（自用）",
    "electricity_kwh": "用电合计（电网 + 自用光伏）",
    "electricity_tce": "电力折标准煤",
    "gas_m3": "天然气",
    "gas_tce": "天然气折标准煤",
    "steam_kg": "外购蒸汽",
    "steam_tce": "蒸汽折标准煤",
    **{f.column: _ZH_FUELS[f.name] for f in FUELS},
    **{f"{f.name}_tce": f"{_ZH_FUELS[f.name]}折标准煤" for f in FUELS},
    "energy_tce": "综合能耗（所选口径）",
    "energy_equivalent_tce": "综合能耗（电力当量值）",
    "energy_equal_value_tce": "综合能耗（电力等价值）",
    "energy_excl_renewables_tce": "计入能耗双控的能耗（扣除可再生能源）",
    "energy_excl_feedstock_tce": "扣除原料用能的能耗",
    "green_kwh": "绿电交易电量（含证书）",
    "green_unused_kwh": "未使用的绿电合同电量",
    "certificates_kwh": "绿证（单独购买）",
    "renewable_electricity_share_pct": "可再生能源电力占比",
    "co2_location_t": "CO₂ 排放（基于位置）",
    "co2_market_t": "CO₂ 排放（基于市场）",
    "co2_location_t_per_tce": "单位能耗碳排放（基于位置）",
    "co2_market_t_per_tce": "单位能耗碳排放（基于市场）",
    "added_value_cny": "工业增加值（分摊）",
    "energy_tce_per_10k_cny": "万元增加值能耗",
    "energy_excl_renewables_tce_per_10k_cny": "万元增加值能耗（扣除可再生能源）",
    "energy_tce_per_10k_cny_prev_year_prices": "万元增加值能耗（上年可比价）",
    "co2_location_t_per_10k_cny": "万元增加值碳排放（基于位置）",
    "co2_market_t_per_10k_cny": "万元增加值碳排放（基于市场）",
    "output": "产量",
    "energy_kgce_per_output": "单位产量能耗",
    "co2_location_kg_per_output": "单位产量碳排放（基于位置）",
    "product_energy_kgce_per_output": "单位产品能耗（限额标准口径）",
    "product_limit_kgce_per_output": "限额标准 限定值",
    "product_entry_kgce_per_output": "限额标准 准入值",
    "product_advanced_kgce_per_output": "限额标准 先进值",
    "product_benchmark_kgce_per_output": "标杆水平",
    "product_baseline_kgce_per_output": "基准水平",
    "clean_energy_share_pct": "清洁能源占比（仅已证明）",
    "non_fossil_share_pct": "非化石能源占比（仅已证明）",
    "clean_energy_share_grid_implied_pct": "清洁能源占比（含电网隐含）",
    "non_fossil_share_grid_implied_pct": "非化石能源占比（含电网隐含）",
    "carbon_efficiency_grade": "碳效等级（1 最优）",
    "readings": "读数条数",
}


def label(name: str) -> str:
    """``中文 english`` of a KPI field (the schema's meaning as the English)."""
    meaning = schema.KPI.field(name).meaning
    zh = ZH.get(name)
    return f"{zh} {meaning}" if zh else meaning


def unit(name: str) -> str:
    """The unit of a KPI field, as the schema declares it."""
    return schema.KPI.unit(name)
