"""A city's board (pure): its parks side by side this month, as the API's city scorecard
shows them. Each park's clean-energy share on the variant its milestones are judged on
against the 65/70/75 % milestones, CO2 per tce on its target's method against the target,
energy and CO2 intensities, the parks ranked by share, quota and carbon-budget status,
completeness, and the city's totals as sums over its parks (never netted across parks).

The parks are named in the queries from the registry (ids of the id grammar, quoted by
``smartpark.store.influxql``), so the board shows exactly the city's parks and needs no
template variable. Every panel reads this month's roll-ups (the board's range,
``now/M``): each park's month-to-date KPI point (``1mo``, ``_park``, stamped at the
start of its month), its quota and budget burn-downs, its sensor-days' completeness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from grafana_foundation_sdk.builders import bargauge, common, stat, table
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

from dashboards.layout import Grid, Language, steps, targets_steps, title
from dashboards.queries import Influx, Query, influx_ref, select
from dashboards.units import with_units
from smartpark.registry import ParkSpec
from smartpark.store.influxql import quote_ident, quote_string
from smartpark.targets import judged_column

SHARE, CARBON = "clean_energy_share_pct", "co2_per_energy_t_per_tce"
DEFAULT_SHARE, DEFAULT_CARBON = (
    "clean_energy_share_grid_implied_equal_value_pct",
    "co2_location_t_per_tce",
)
#: Grafana's longest UID.
MAX_UID = 40
MONTH = {"window": "1mo", "scope": "_park"}


def uid(prefix: str, name: str, suffix: str = "") -> str:
    """``prefix + name + suffix``, within Grafana's 40 characters: a name too long for it
    is cut and given the first 8 hex digits of its SHA-256, so it stays unique and the
    same on every build."""
    whole = f"{prefix}{name}{suffix}"
    if len(whole) <= MAX_UID:
        return whole
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    room = MAX_UID - len(prefix) - len(suffix) - len(digest) - 1
    return f"{prefix}{name[:room]}-{digest}{suffix}"


def _parks(ids: Sequence[str]) -> str:
    """``("park" = 'a' OR "park" = 'b')``: the parks, quoted."""
    return "(" + " OR ".join(f"{quote_ident('park')} = {quote_string(p)}" for p in ids) + ")"


def _milestone(key: str) -> bool:
    """A clean-energy milestone of the registry's targets (``clean_energy_share_pct_2030``)."""
    return key.startswith(SHARE + "_") and key.rpartition("_")[2].isdigit()


def _judged(parks: Sequence[ParkSpec]) -> dict[tuple[str, str], list[str]]:
    """The parks by the KPI columns their clean-energy milestones and CO2-per-tce target
    are judged on (one group in a city whose parks judge alike)."""
    out: dict[tuple[str, str], list[str]] = {}
    for p in parks:
        share = judged_column(SHARE, p.target_variants, milestone=True) or DEFAULT_SHARE
        carbon = judged_column(CARBON, p.target_variants, milestone=False) or DEFAULT_CARBON
        out.setdefault((share, carbon), []).append(p.id)
    return out


def _by(judged: dict[tuple[str, str], list[str]], which: int) -> dict[str, list[str]]:
    """The parks by one of the two judged columns."""
    out: dict[str, list[str]] = {}
    for columns, ids in judged.items():
        out.setdefault(columns[which], []).extend(ids)
    return out


def _month(fields: list[str], ids: Sequence[str], *, agg: str = "last") -> Query:
    return select("kpi", fields, where=MONTH, aggregate=agg, group_by=["park"], extra=_parks(ids))


def _gauge(key: str, queries: list[Query], language: Language) -> bargauge.Panel:
    """One bar per park (the series' park tag as its name)."""
    targets = [Influx(q, ref_id=chr(65 + i)).alias("$tag_park") for i, q in enumerate(queries)]
    panel = bargauge.Panel().title(title(key, language)).datasource(influx_ref())
    panel = with_units(panel, targets)
    for target in targets:
        panel.with_target(target)
    return panel


def _table(key: str, queries: list[Query], language: Language) -> table.Panel:
    """One row per park: the queries' frames joined on the park."""
    targets = [Influx(q, ref_id=chr(65 + i), table=True) for i, q in enumerate(queries)]
    panel = table.Panel().title(title(key, language)).datasource(influx_ref())
    panel = with_units(panel, targets)
    for target in targets:
        panel.with_target(target)
    if len(targets) > 1:
        panel.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    return panel


def city(city_id: str, parks: Sequence[ParkSpec], language: Language) -> dash.Dashboard:
    """The board of ``city_id``: ``parks`` (its parks in the registry) side by side."""
    in_city = _parks([p.id for p in parks])
    judged = _judged(parks)
    shares, carbon = _by(judged, 0), _by(judged, 1)
    milestones = sorted({v for p in parks for k, v in p.targets.items() if _milestone(k)})
    per_tce = min((p.targets[CARBON] for p in parks if CARBON in p.targets), default=0.20)
    board = (
        dash.Dashboard(f"smartpark · {title('city', language)} · {city_id}")
        .uid(uid("smartpark-city-", city_id))
        .tags(["smartpark", "city"])
        .timezone("browser")  # replaced by the city's zone (``build.dashboards``)
        .refresh("5m")
        .time("now/M", "now")
        .editable()
    )
    sums = [
        ("city_energy", "energy_tce"),
        ("city_co2_location", "co2_location_t"),
        ("city_co2_market", "co2_market_t"),
        ("city_electricity", "electricity_kwh"),
    ]
    figures = ["energy_tce", "co2_location_t", "energy_tce_per_10k_cny",
               "co2_location_t_per_10k_cny"]  # fmt: skip
    queries = [_month([share, per, *figures], p) for (share, per), p in judged.items()]
    ranked = _table("city_ranked", queries, language).sort_by(
        [common.TableSortByFieldState().display_name(next(iter(shares))).desc(True)]
    )
    panels = [
        *((_stat(key, select("kpi", [field], where=MONTH, aggregate="sum", extra=in_city),
                 language), 6, 4) for key, field in sums),
        (_gauge("city_share", [_month([c], p) for c, p in shares.items()], language)
         .thresholds(targets_steps(milestones)).min(0).max(100), 12, 8),
        (_gauge("city_per_tce", [_month([c], p) for c, p in carbon.items()], language)
         .thresholds(steps((None, "green"), (per_tce, "red"))).min(0), 12, 8),
        (ranked, 24, 8),
        (_table("city_quota", [
            select("quota", ["used_pct", "forecast_pct"], aggregate="max", group_by=["park"],
                   extra=in_city),
            select("quota", ["breached"], aggregate="count", group_by=["park"],
                   extra=f'{in_city} AND "breached" = true'),
            select("quota", ["forecast_breach"], aggregate="count", group_by=["park"],
                   extra=f'{in_city} AND "forecast_breach" = true'),
        ], language), 12, 8),
        (_table("city_budget", [
            select("carbon_budget", ["used_co2_t", "budget_co2_t", "forecast_co2_t", "used_pct"],
                   where={"scope": "_park"}, aggregate="last",
                   group_by=["park", "co2_method", "co2_factor"], extra=in_city),
        ], language), 12, 8),
        (_gauge("city_completeness", [select("data_quality", ["completeness_pct"],
                aggregate="mean", group_by=["park"], extra=in_city)], language)
         .thresholds(steps((None, "red"), (90, "green"))).min(0).max(100), 24, 6),
    ]  # fmt: skip
    grid = Grid()
    for panel, w, h in panels:
        board.with_panel(grid.place(panel, w, h))
    return board


def _stat(key: str, query: Query, language: Language) -> stat.Panel:
    target = Influx(query)
    panel = with_units(stat.Panel().title(title(key, language)).datasource(influx_ref()), [target])
    return panel.with_target(target).decimals(1)
