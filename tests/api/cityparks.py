"""A city of three parks for the city page's and the city board's tests: a registry
(examples/park.yaml's park three times in chengdu, three enterprises each, and a fourth
park in another city), a processing configuration per park (quotas, a carbon budget)
and this month's points written in the processor's own encoding (``processing.output``,
``processing.quota.burn_down``): each park's month-to-date KPIs (``_park``, ``1mo``), its
enterprises' quota burn-down, its own carbon-budget burn-down and today's completeness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import yaml

from processing import output
from processing.quota import burn_down
from smartpark.store.base import Store
from tests.conftest import EXAMPLE_PARK

ZONE = "Asia/Shanghai"
KEEP = ("e01-baijiu", "e08-anode", "e09-anode")
#: A name with markup: the page must show it as text.
MARKUP = "双流航空港园区 <b>B区</b> & co"


@dataclass(frozen=True, slots=True)
class CityPark:
    """One park's month so far: its name, city and the figures written for it."""

    id: str
    name: str
    city: str
    share_pct: float  # clean-energy share, grid-implied at 等价值 (the judged variant)
    energy_tce: float
    co2_per_tce: float
    quota_used_tce: dict[str, float]  # per enterprise, the month so far
    budget_used_t: float
    completeness_pct: float  # every sensor's today so far

    @property
    def co2_t(self) -> float:
        return self.energy_tce * self.co2_per_tce


PARKS = (
    CityPark("tianfu-np", "天府新区零碳园区", "chengdu", 71.5, 4200.0, 0.18,
             {"e08-anode": 800.0, "e09-anode": 300.0}, 700.0, 100.0),
    CityPark("qingbaijiang-np", "青白江循环经济园区", "chengdu", 63.2, 6100.0, 0.26,
             {"e08-anode": 5000.0, "e09-anode": 100.0}, 2000.0, 95.0),
    CityPark("shuangliu-np", MARKUP, "chengdu", 67.0, 2500.0, 0.21,
             {"e08-anode": 100.0}, 100.0, 80.0),
    CityPark("fucheng-np", "涪城高新园区", "mianyang", 90.0, 999.0, 0.1, {}, 0.0, 100.0),
)  # fmt: skip
CITY = [p for p in PARKS if p.city == "chengdu"]
QUOTAS = {"e08-anode": 2600.0, "e09-anode": 1350.0}
BUDGET_T = 1500.0


def registry(path: Path) -> Path:
    """The registry of :data:`PARKS` (each the example park's three enterprises)."""
    doc = yaml.safe_load(EXAMPLE_PARK.read_text(encoding="utf-8"))
    park = doc["parks"][0]
    enterprises = [e for e in park["enterprises"] if e["id"] in KEEP]
    plain = {k: v for k, v in park.items() if k not in ("mappings", "gateways")}
    doc["parks"] = [
        {**plain, "id": p.id, "name": p.name, "city": p.city, "timezone": ZONE,
         "enterprises": enterprises}
        for p in PARKS
    ]  # fmt: skip
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def configs(folder: Path) -> Path:
    """A processing configuration per park: every park has quotas and a carbon budget
    except Shuangliu, which has no budget."""
    folder.mkdir(exist_ok=True)
    for p in PARKS:
        config: dict[str, Any] = {"factors": "cn", "quotas_tce_month": QUOTAS}
        if p.id != "shuangliu-np":
            config["carbon_budgets"] = {"method": "location", "t_month": {"_park": BUDGET_T}}
        (folder / f"{p.id}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


def month_start(now: datetime) -> datetime:
    """The first moment of ``now``'s month in the parks' zone."""
    local = now.astimezone(ZoneInfo(ZONE))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def write(store: Store, now: datetime) -> None:
    """This month's points of every park, as the processor's jobs write them."""
    month = month_start(now)
    today = now.astimezone(ZoneInfo(ZONE)).date()
    month_ms = int(month.timestamp() * 1000)
    day_ms = int(datetime.combine(today, datetime.min.time(), ZoneInfo(ZONE)).timestamp() * 1000)
    lines: list[str] = []
    for p in PARKS:
        kpis = pl.DataFrame(
            {
                "scope": ["_park"], "window": [month_ms], "energy_tce": [p.energy_tce],
                "electricity_kwh": [p.energy_tce * 4000], "co2_location_t": [p.co2_t],
                "co2_market_t": [p.co2_t * 1.1], "co2_location_t_per_tce": [p.co2_per_tce],
                "co2_market_t_per_tce": [p.co2_per_tce * 1.1],
                "clean_energy_share_grid_implied_equal_value_pct": [p.share_pct],
                "clean_energy_share_pct": [p.share_pct / 3],
                "energy_tce_per_10k_cny": [p.energy_tce / 50_000],
                "co2_location_t_per_10k_cny": [p.co2_t / 50_000],
            }
        )  # fmt: skip
        lines += output.points(kpis, park=p.id, window="1mo", tags={"factor_set": "cn"})
        lines += _burn_downs(p, today, month_ms)
        quality = pl.DataFrame(
            {"enterprise": list(KEEP), "sensor": [f"{e[:3]}grid-1" for e in KEEP],
             "readings": [int(p.completeness_pct)] * 3, "expected": [100] * 3,
             "completeness_pct": [p.completeness_pct] * 3,
             "complete": [p.completeness_pct >= 90] * 3}
        )  # fmt: skip
        lines += output.quality_points(quality, park=p.id, day_ms=day_ms)
    store.write("\n".join(lines).encode())


def _burn_downs(p: CityPark, today: date, month_ms: int) -> list[str]:
    daily = pl.DataFrame(
        [(e, today, used) for e, used in p.quota_used_tce.items()]
        + [("_park", today, p.budget_used_t)],
        schema={"enterprise": pl.Utf8, "day": pl.Date, "used": pl.Float64},
        orient="row",
    )
    quotas = burn_down(daily, QUOTAS, as_of=today)
    quotas = quotas.filter(pl.col("enterprise").is_in(list(p.quota_used_tce)))
    method = {"quota_total": "energy_excl_renewables_tce", "factor_set": "cn"}
    out = list(output.quota_points(quotas, park=p.id, month_ms=month_ms, method=method))
    if p.id != "shuangliu-np":
        budget = burn_down(daily, {"_park": BUDGET_T}, as_of=today, unit="co2_t", limit="budget")
        tags = {"co2_method": "location", "co2_factor": "0.5366", "factor_set": "cn"}
        out += output.carbon_budget_points(budget, park=p.id, month_ms=month_ms, method=tags)
    return out
