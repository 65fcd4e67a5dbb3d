"""The five dashboards, built with grafana-foundation-sdk (pure): park overview,
enterprise, CEMS compliance, evaluation, pipeline health. Stable UIDs, one folder. Every
InfluxDB panel's units are those of the columns it selects (``dashboards.units``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.models.dashboard import (
    DataTransformerConfig,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from dashboards.layout import Grid, Language, steps, targets_steps, title
from dashboards.queries import Influx, Query, influx_ref, prometheus_ref, select
from dashboards.units import with_units
from smartpark.carriers import FUELS
from smartpark.products import LEVEL_NAMES
from smartpark.targets import judged_column

TAGS = ["smartpark"]
PARK = {"park": "park"}


def _base(uid: str, key: str, language: Language) -> dash.Dashboard:
    return (
        dash.Dashboard(f"smartpark · {title(key, language)}")
        .uid(f"smartpark-{uid}")
        .tags(TAGS)
        .timezone("browser")  # replaced by the park's zone (``build.dashboards``)
        .refresh("1m")
        .time("now/d", "now")
        .editable()
    )


def _park_variable(park: str) -> dash.CustomVariable:
    return (
        dash.CustomVariable("park")
        .label("park")
        .values(park)
        .current(VariableOption(selected=True, text=park, value=park))
    )


def _enterprise_variable() -> dash.QueryVariable:
    # The registry's enterprises as InfluxDB knows them: the KPI scopes of the park.
    return (
        dash.QueryVariable("enterprise")
        .label("enterprise")
        .datasource(influx_ref())
        .query('SHOW TAG VALUES FROM "kpi" WITH KEY = "scope" WHERE "park" = \'$park\'')
        .regex("/^(?!_park$).*/")
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )


def _kpi(
    fields: list[str], scope: str | None, window: str, *, agg: str = "last", series: bool = False
) -> Query:
    """KPI fields of the park (``_park``) or ``$enterprise``: one value (stat) or a series
    per ``$__interval`` (time series)."""
    where = {"window": window, **({"scope": scope} if scope else {})}
    where_vars = {"park": "park", **({} if scope else {"scope": "enterprise"})}
    return select(
        "kpi", fields, where=where, where_vars=where_vars, aggregate=agg, by_interval=series
    )


def _stat(key: str, query: Query, language: Language, **opts: Any) -> stat.Panel:
    target = Influx(query)
    panel = with_units(stat.Panel().title(title(key, language)).datasource(influx_ref()), [target])
    panel.with_target(target).decimals(opts.get("decimals", 2))
    if "thresholds" in opts:
        panel.thresholds(opts["thresholds"])
    if "time_from" in opts:
        panel.time_from(opts["time_from"])
    return panel


def _budget(where_vars: Mapping[str, str] | None = None, where: Mapping[str, str] | None = None,
            group_by: tuple[str, ...] = ()) -> Query:  # fmt: skip
    """The newest carbon-budget burn-down, by the method and factor that made it."""
    return select(
        "carbon_budget", ["used_co2_t", "forecast_co2_t", "budget_co2_t", "used_pct"],
        where=where, where_vars={"park": "park", **(where_vars or {})}, aggregate="last",
        group_by=[*group_by, "co2_method", "co2_factor"],
    )  # fmt: skip


def _table(key: str, targets: list[Influx], language: Language) -> table.Panel:
    panel = with_units(table.Panel().title(title(key, language)).datasource(influx_ref()), targets)
    for target in targets:
        panel.with_target(target)
    return panel


def _month_table(key: str, query: Query, language: Language) -> table.Panel:
    """A month's burn-down (one point per month, at its start) as a table of this month."""
    return _table(key, [Influx(query, table=True)], language).time_from("now/M")


# Hourly series on the "today" board: the last 24 hours, so the chart is not empty in the
# first hour of the day, before today's first hour has closed.
LAST_24_HOURS = "now-24h"


def _series(key: str, queries: list[Influx], language: Language) -> timeseries.Panel:
    panel = timeseries.Panel().title(title(key, language)).datasource(influx_ref())
    panel = with_units(panel, queries)
    for q in queries:
        panel.with_target(q)
    return panel


def park_overview(
    park: str,
    targets: Mapping[str, float],
    language: Language,
    variants: Mapping[str, str] | None = None,
) -> dash.Dashboard:
    """Today and month to date for the park as a whole, against its targets; the clean
    share and CO2 per tce judged are the variants the park's targets are judged on."""
    board = _base("park", "park", language).with_variable(_park_variable(park))
    grid = Grid()
    clean = [v for k, v in targets.items() if k.startswith("clean_energy_share_pct")]
    per_tce = targets.get("co2_per_energy_t_per_tce", 0.20)
    variants = variants or {}
    judged_clean = (
        judged_column(
            "clean_energy_share_pct", variants, milestone="clean_energy_share_pct" not in targets
        )
        or "clean_energy_share_grid_implied_equal_value_pct"
    )
    judged_per_tce = judged_column("co2_per_energy_t_per_tce", variants, milestone=False)
    completeness = Influx(select("data_quality", ["completeness_pct"], where_vars=PARK,
                                 aggregate="last", group_by=["sensor"]))  # fmt: skip
    panels = [
        (_stat("energy_today", _kpi(["energy_tce"], "_park", "1d"), language), 4, 4),
        (_stat("energy_month", _kpi(["energy_tce"], "_park", "1mo"), language,
               time_from="now/M"), 4, 4),
        (_stat("co2_location_today", _kpi(["co2_location_t"], "_park", "1d"), language), 4, 4),
        (_stat("co2_market_today", _kpi(["co2_market_t"], "_park", "1d"), language), 4, 4),
        (_stat("co2_per_tce", _kpi([judged_per_tce or "co2_location_t_per_tce",
                                    *sorted({"co2_location_t_per_tce", "co2_market_t_per_tce"}
                                            - {judged_per_tce})], "_park", "1d"),
               language, thresholds=steps((None, "green"), (per_tce, "red"))), 8, 4),
        (_stat("clean_implied", _kpi([judged_clean], "_park", "1d"),
               language, thresholds=targets_steps(clean), decimals=1), 8, 5),
        (_stat("clean_proven", _kpi(["clean_energy_share_pct"], "_park", "1d"),
               language, thresholds=targets_steps(clean), decimals=1), 8, 5),
        (_stat("non_fossil", _kpi(["non_fossil_share_grid_implied_equal_value_pct",
                                   "non_fossil_share_grid_implied_pct", "non_fossil_share_pct"],
                                  "_park", "1d"), language, decimals=1), 8, 5),
        (_series("carriers", [Influx(_kpi(["electricity_tce", "gas_tce", "steam_tce",
                                           *(f"{f.name}_tce" for f in FUELS)],
                                          "_park", "1h", agg="sum", series=True))],
                 language).time_from(LAST_24_HOURS), 12, 8),
        (_series("pv_grid", [Influx(_kpi(["pv_kwh", "grid_kwh", "green_kwh"], "_park", "1h",
                                         agg="sum", series=True))], language)
         .time_from(LAST_24_HOURS), 12, 8),
        (_month_table("budget", _budget(where={"scope": "_park"}), language), 12, 4),
        (_table("ranking", [Influx(select("kpi", ["energy_tce", "co2_location_t"],
                                          where={"window": "1d"}, where_vars=PARK,
                                          aggregate="sum", extra="\"scope\" != '_park'",
                                          group_by=["scope"]), table=True)], language), 12, 9),
        (_table("alerts", [Influx(select("alert_events", ["rule", "severity", "event", "message"],
                                         where_vars=PARK), table=True)], language), 12, 9),
        # from yesterday's start: each sensor's newest day, today so far once the 5-minute
        # job wrote it, yesterday's whole day in the day's first minutes (not an empty panel)
        (with_units(bargauge.Panel().title(title("completeness", language))
                    .datasource(influx_ref()), [completeness])
         .thresholds(steps((None, "red"), (90, "green"))).min(0).max(100)
         .time_from("now-1d/d").with_target(completeness), 24, 10),
    ]  # fmt: skip
    for panel, w, h in panels:
        board.with_panel(grid.place(panel, w, h))
    return board


def enterprise(language: Language, park: str) -> dash.Dashboard:
    """One enterprise (``$enterprise``): energy, CO2, intensities, quota, CEMS, sensors."""
    board = (
        _base("enterprise", "enterprise", language)
        .time("now-7d", "now")
        .with_variable(_park_variable(park))
        .with_variable(_enterprise_variable())
    )
    grid = Grid()
    ent = {"park": "park", "enterprise": "enterprise"}
    panels = [
        (_series("energy_co2", [Influx(_kpi(["energy_tce", "co2_location_t", "co2_market_t"],
                                            None, "1h", agg="sum", series=True))], language),
         12, 8),
        (_series("intensity_output", [Influx(_kpi(["energy_kgce_per_output",
                 "co2_location_kg_per_output"], None, "1d", series=True))], language),
         12, 8),
        (_series("intensity_value", [Influx(_kpi(["energy_tce_per_10k_cny",
                 "co2_location_t_per_10k_cny", "co2_market_t_per_10k_cny"], None, "1d",
                 series=True))], language), 12, 8),
        (_month_table("quota", select("quota", ["used_tce", "forecast_tce", "quota_tce"],
                      where_vars=ent, aggregate="last"), language), 12, 4),
        (_month_table("budget", _budget({"scope": "enterprise"}), language), 12, 4),
        (_series("cems_nox", [Influx(select("cems_hourly", ["nox_mg_m3_corrected",
                 "nox_mg_m3_limit"], where_vars=ent, aggregate="mean", by_interval=True,
                 group_by=["sensor"]))], language), 12, 8),
        (_series("sensor_use", [Influx(select("sensor_use", ["grid_kwh", "gas_m3", "pv_kwh"],
                 where={"window": "1h"}, where_vars=ent, aggregate="sum", by_interval=True,
                 group_by=["sensor"]))], language), 12, 8),
    ]  # fmt: skip
    for panel, w, h in panels:
        board.with_panel(grid.place(panel, w, h))
    return board


def cems_compliance(language: Language, park: str) -> dash.Dashboard:
    board = (
        _base("cems", "cems", language).time("now-7d", "now").with_variable(_park_variable(park))
    )
    grid = Grid()
    pollutants = ["nox_mg_m3", "so2_mg_m3", "pm_mg_m3"]
    fields = [f"{p}_corrected" for p in pollutants] + [f"{p}_limit" for p in pollutants]
    panels = [
        (_series("stack_means", [Influx(select("cems_hourly", fields, where_vars=PARK,
                 aggregate="mean", by_interval=True, group_by=["sensor"]))], language),
         24, 10),
        (_table("exceedances", [Influx(select("cems_hourly", ["nox_mg_m3_corrected",
                "so2_mg_m3_corrected", "pm_mg_m3_corrected"], where_vars=PARK,
                group_by=["sensor"], extra='("nox_mg_m3_exceeded" = true OR '
                '"so2_mg_m3_exceeded" = true OR "pm_mg_m3_exceeded" = true)'), table=True)],
                language), 12, 9),
        (_table("valid_hours", [
            Influx(select("cems_hourly", ["hour_valid"], where_vars=PARK, aggregate="count",
                          group_by=["sensor"], extra='"hour_valid" = true'), ref_id="A",
                   table=True).alias("valid hours"),
            Influx(select("cems_hourly", ["minutes"], where_vars=PARK, aggregate="count",
                          group_by=["sensor"]), ref_id="B", table=True).alias("hours"),
        # one row per stack: the two queries' frames joined on their sensor
        ], language).with_transformation(DataTransformerConfig(id_val="merge", options={})),
         12, 9),
    ]  # fmt: skip
    for panel, w, h in panels:
        board.with_panel(grid.place(panel, w, h))
    return board


def evaluation(language: Language, park: str) -> dash.Dashboard:
    board = (
        _base("evaluation", "evaluation", language)
        .time("now-1y", "now")
        .with_variable(_park_variable(park))
    )
    grid = Grid()
    panels = [
        # the final grade of the last year evaluated, once per enterprise, with the year
        # (``evaluated``): the year job stamps it at the start of that year and runs on 1
        # January, so the panel reads from the start of the year before last (the board's
        # "last year" starts after the stamp); interim views are left to the API
        (_table("grades", [Influx(select("muju", ["score", "rank", "grade", "evaluated"],
                                         where={"period": "year"}, where_vars=PARK,
                                         aggregate="last", group_by=["enterprise"]),
                                  table=True)], language).time_from("now-2y/y"), 12, 10),
        (_table("quota_status", [Influx(select("quota", ["quota_tce", "used_tce", "forecast_tce"],
                                               where_vars=PARK, aggregate="last",
                                               group_by=["enterprise"]), table=True)],
                language), 12, 10),
        (_table("budget_status", [Influx(_budget(group_by=("scope",)), table=True)], language),
         12, 10),
        # 单位产品能耗 of the last month against each declared level (kgce per unit of the
        # enterprise's output; the level's met flag beside it): the whole month before
        # (this month's point, rewritten every minute, would be a few days' figure)
        (_table("product_limits", [Influx(select(
             "kpi",
             ["product_energy_kgce_per_output",
              *(f"product_{lv}_{what}" for lv in LEVEL_NAMES
                for what in ("kgce_per_output", "met"))],
             where={"window": "1mo"}, where_vars=PARK, aggregate="last", group_by=["scope"],
         ), table=True)], language).decimals(1).time_from("now/M").time_shift("1M/M"), 24, 8),
    ]  # fmt: skip
    for panel, w, h in panels:
        board.with_panel(grid.place(panel, w, h))
    return board


def _promql(key: str, expr: str, unit: str, language: Language, legend: str = "") -> Any:
    query = prom.Dataquery().expr(expr).range().legend_format(legend or "__auto").ref_id("A")
    query.datasource(prometheus_ref())
    return (
        timeseries.Panel().title(title(key, language)).datasource(prometheus_ref()).unit(unit)
        .with_target(query)
    )  # fmt: skip


PROMQL = {
    "ingest_rate": ("sum(rate(smartpark_ingest_messages_received_total[$__rate_interval]))",
                    "reqps", ""),
    "dead_letters": ("sum by (reason) (rate(smartpark_ingest_deadlettered_total"
                     "[$__rate_interval]))", "reqps", "{{reason}}"),
    "lag": ("histogram_quantile(0.99, sum by (le) (rate("
            "smartpark_ingest_reading_lag_seconds_bucket[$__rate_interval])))", "s", "p99"),
    "spool": ("max(smartpark_ingest_spool_bytes)", "bytes", ""),
    "store_errors": ("sum(rate(smartpark_ingest_store_errors_total[$__rate_interval])) + "
                     "sum(rate(smartpark_processing_store_errors_total[$__rate_interval]))",
                     "reqps", ""),
    "unwritten": ("max(smartpark_processing_unwritten_windows)", "short", ""),
    "watermark": ("max(smartpark_processing_watermark_lag_seconds)", "s", ""),
    "outbox": ("max(smartpark_alerts_outbox_pending)", "short", ""),
    "failing": ("max(smartpark_alerts_failing_channels)", "short", ""),
}  # fmt: skip


def pipeline_health(language: Language) -> dash.Dashboard:
    board = _base("health", "health", language).time("now-6h", "now").refresh("30s")
    grid = Grid()
    for key, (expr, unit, legend) in PROMQL.items():
        board.with_panel(grid.place(_promql(key, expr, unit, language, legend), 8, 7))
    return board


def alert_annotations() -> dict[str, Any]:
    """Alert events as annotations (the SDK's annotation target has no InfluxQL field)."""
    return {
        "datasource": {"type": "influxdb", "uid": influx_ref().uid},
        "enable": True,
        "iconColor": "red",
        "name": "alerts",
        # ``rule`` (a tag of the events) selected too: the annotation's tags column
        "query": select("alert_events", ["message", "rule"], where_vars={"park": "park",
                        "enterprise": "enterprise"}).text,
        "textColumn": "message",
        "tagsColumn": "rule",
    }  # fmt: skip
