"""Panel placement, thresholds and titles in two languages (pure); units are the
schema's (``dashboards.units``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from grafana_foundation_sdk.builders import bargauge, common, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import GridPos, Threshold, ThresholdsMode

Language = Literal["en", "zh"]


@dataclass
class Grid:
    """Left to right, 24 columns wide, a new row when the next panel does not fit; ids
    in placement order. Panels never overlap."""

    x: int = 0
    y: int = 0
    row_h: int = 0
    next_id: int = 1
    placed: list[tuple[int, GridPos]] = field(default_factory=list)

    def place(self, panel: Any, w: int, h: int) -> Any:
        _options(panel)
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = GridPos(h=h, w=w, x=self.x, y=self.y)
        panel.id(self.next_id).grid_pos(pos)
        self.placed.append((self.next_id, pos))
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel


def _options(panel: Any) -> None:
    """Each panel type's options set (Grafana reads ``options: null`` badly)."""
    if isinstance(panel, stat.Panel | bargauge.Panel):
        panel.reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    elif isinstance(panel, timeseries.Panel):
        panel.legend(
            common.VizLegendOptions()
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    elif isinstance(panel, table.Panel):
        panel.show_header(True)


def steps(*pairs: tuple[float | None, str]) -> dash.ThresholdsConfig:
    """Absolute thresholds: (value, colour) pairs, the first value None (the base)."""
    return (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=v, color=c) for v, c in pairs])
    )


def targets_steps(values: Sequence[float]) -> dash.ThresholdsConfig:
    """Red below the first target, then warmer to greener at each further one."""
    colours = ["orange", "yellow", "green", "dark-green"]
    ordered = sorted(values)
    return steps((None, "red"), *((v, colours[min(i, 3)]) for i, v in enumerate(ordered)))


TITLES: dict[str, tuple[str, str]] = {
    "park": ("Park overview", "园区总览"),
    "enterprise": ("Enterprise", "企业"),
    "cems": ("CEMS compliance", "烟气排放合规"),
    "evaluation": ("Evaluation", "评价"),
    "health": ("Pipeline health", "数据管道健康"),
    "energy_today": ("Energy today", "今日能耗"),
    "energy_month": ("Energy month to date", "本月能耗"),
    "co2_location_today": ("CO2 today (location-based)", "今日碳排放(基于位置)"),
    "co2_market_today": ("CO2 today (market-based)", "今日碳排放(基于市场)"),
    "co2_per_tce": (
        "CO2 per tce (threshold 0.20; judged first, then the other method)",
        "单位能耗碳排放(阈值0.20;考核口径在前)",
    ),
    "clean_implied": (
        "Clean-energy share (judged: grid-implied at equal value by default)",
        "清洁能源占比(考核口径:默认含电网隐含、等价值)",
    ),
    "clean_proven": ("Clean-energy share (proven only)", "清洁能源占比(仅已证明)"),
    "non_fossil": (
        "Non-fossil share (grid-implied at equal value / at equivalent value / proven)",
        "非化石能源占比(含电网隐含等价值/当量值/仅已证明)",
    ),
    "carriers": ("Energy by carrier per hour (tce)", "分能源品种每小时能耗(tce)"),
    "product_limits": (
        "Energy per unit of product against its limit levels (kgce/unit, last month)",
        "单位产品能耗与限额(限定值/准入值/先进值/标杆/基准,上月)",
    ),
    "pv_grid": ("PV generation against grid import", "光伏发电与电网购电"),
    "ranking": ("Enterprises by energy and CO2 (period)", "企业能耗与碳排放排名"),
    "alerts": ("Alert events", "告警事件"),
    "completeness": (
        "Data completeness per sensor (today so far, else yesterday)",
        "传感器数据完整率(今日至今,否则昨日)",
    ),
    "energy_co2": ("Energy and CO2 per hour", "每小时能耗与碳排放"),
    "intensity_output": ("Intensity per unit of output", "单位产品能耗与碳排放"),
    "intensity_value": (
        "Intensity per 10k CNY of added value (daily)",
        "万元增加值能耗与碳排放(日)",
    ),
    "quota": ("Quota this month: used, forecast, quota", "本月用能权配额:已用、预测、配额"),
    "budget": (
        "Carbon budget this month: used, forecast, budget (tCO2)",
        "本月碳排放预算:已排、预测、预算(tCO2)",
    ),
    "cems_nox": ("NOx hourly means (O2-corrected) and limits", "氮氧化物小时均值(折算)与限值"),
    "sensor_use": ("Use per sensor per hour", "分表每小时用量"),
    "stack_means": ("Corrected hourly means by stack", "各排口折算小时均值"),
    "exceedances": ("Exceedance hours", "超标小时"),
    "valid_hours": ("Valid hours (≥ 45 valid minutes) of all hours", "有效小时数/总小时数"),
    "grades": (
        "Mu-average grades and scores (last year evaluated)",
        "亩均评价等级与得分(最近评价年度)",
    ),
    "quota_status": ("Quota status per enterprise", "各企业用能权配额状态"),
    "budget_status": (
        "Carbon budget status per enterprise and park (tCO2)",
        "各企业及园区碳排放预算状态(tCO2)",
    ),
    "city": ("City", "城市"),
    "city_energy": ("Energy this month (sum of parks)", "本月能耗(各园区之和)"),
    "city_co2_location": (
        "CO2 location-based this month (sum of parks)",
        "本月CO2基于位置(各园区之和)",
    ),
    "city_co2_market": (
        "CO2 market-based this month (sum of parks)",
        "本月CO2基于市场(各园区之和)",
    ),
    "city_electricity": ("Electricity this month (sum of parks)", "本月用电(各园区之和)"),
    "city_share": (
        "Clean-energy share by park (judged variant; milestones 65/70/75 %)",
        "各园区清洁能源占比(评判口径;目标65/70/75%)",
    ),
    "city_per_tce": ("CO2 per tce by park (against the target)", "各园区单位能耗碳排放(对照目标)"),
    "city_ranked": (
        "Parks ranked by clean-energy share: CO2 per tce, energy, CO2, intensities",
        "园区排名(按清洁能源占比):单位能耗碳排放、能耗、CO2、强度",
    ),
    "city_quota": (
        "Energy-use quotas by park (highest of its enterprises; how many over, forecast over)",
        "各园区用能权配额(企业最高值;超额与预计超额企业数)",
    ),
    "city_budget": ("Carbon budget by park (tCO2)", "各园区碳排放预算(tCO2)"),
    "city_completeness": (
        "Data completeness by park (mean of this month's sensor-days)",
        "各园区数据完整率(本月传感器日均值)",
    ),
    "ingest_rate": ("Messages received per second", "每秒接收消息"),
    "dead_letters": ("Dead letters by reason", "死信(按原因)"),
    "lag": ("Reading → durable lag (p99)", "读数落盘延迟(p99)"),
    "spool": ("Spool bytes", "本地缓存字节"),
    "store_errors": ("Store errors per second", "数据库写入错误"),
    "unwritten": ("Processor: unwritten windows", "处理器未写入窗口"),
    "watermark": ("Processor: watermark lag", "处理器水位延迟"),
    "outbox": ("Alert outbox backlog", "告警待发送"),
    "failing": ("Failing alert channels", "发送失败的告警通道"),
}


def title(key: str, language: Language) -> str:
    en, zh = TITLES[key]
    return zh if language == "zh" else en
