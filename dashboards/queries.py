"""Panel queries as Grafana will send them, built from safe parts (pure).

InfluxQL: identifiers and literals go through the core builder's quoting
(``smartpark.store.influxql``); Grafana's macros (``$timeFilter``, ``$__interval``) and
template variables (``$park``, ``$enterprise``) are the only raw text, and only those
listed here. Every InfluxQL query reads a roll-up measurement of ``smartpark.schema``
(``kpi``, ``sensor_use``, ``cems_hourly``, ``data_quality``, ``quota``, ``carbon_budget``,
``muju``, ``alert_events``), never raw readings, so a 30-day view stays fast; its fields
and tags are checked against the definition, and it carries the unit of each column it
selects (what the panel shows, ``dashboards.units``).

A dataquery for the InfluxDB datasource: grafana-foundation-sdk has no InfluxDB builder,
so :class:`InfluxQuery` emits what Grafana's InfluxQL editor stores (``refId``,
``query``, ``rawQuery: true``, ``resultFormat``, the pinned datasource).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from smartpark import schema
from smartpark.store.influxql import quote_ident, quote_string

INFLUX_UID = "smartpark-influxdb"
PROMETHEUS_UID = "smartpark-prometheus"
#: Grafana template variables the queries may use (defined on every dashboard using them).
VARIABLES = ("park", "enterprise", "stack")


def influx_ref() -> DataSourceRef:
    return DataSourceRef(type_val="influxdb", uid=INFLUX_UID)


def prometheus_ref() -> DataSourceRef:
    return DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)


def var(name: str) -> str:
    """A template variable inside a string literal, e.g. ``'$park'``."""
    if name not in VARIABLES:
        raise ValueError(f"not a dashboard variable: {name!r}")
    return f"'${name}'"


@dataclass(frozen=True, slots=True)
class Query:
    """An InfluxQL panel query and the unit (``smartpark.schema``) of each column it
    selects, by column name."""

    text: str
    units: Mapping[str, str]


def _column_unit(m: schema.Measurement, name: str, aggregate: str | None) -> str:
    if aggregate == "count":
        return schema.COUNT
    if name in m.tags:
        return schema.TEXT  # a tag selected as a column (an event table's rule)
    return m.unit(name)


def select(
    measurement: str,
    fields: Sequence[str],
    *,
    where: Mapping[str, str] | None = None,
    where_vars: Mapping[str, str] | None = None,
    aggregate: str | None = None,
    group_by: Sequence[str] = (),
    by_interval: bool = False,
    extra: str = "",
) -> Query:
    """``SELECT ... FROM roll-up WHERE tags AND $timeFilter GROUP BY ...``.

    ``where`` holds literal tag values, ``where_vars`` tag -> template variable; ``extra``
    is a fixed condition written here (never user text). Fields, tags and the roll-up are
    checked against ``smartpark.schema`` (a :class:`~smartpark.errors.SchemaError` names
    what is not there)."""
    m = schema.rollup(measurement)
    units = {f: _column_unit(m, f, aggregate) for f in fields}
    for tag in [*(where or {}), *(where_vars or {}), *group_by]:
        m.tag(tag)
    if aggregate is None:
        cols = ", ".join(quote_ident(f) for f in fields)
    else:
        cols = ", ".join(f"{aggregate}({quote_ident(f)}) AS {quote_ident(f)}" for f in fields)
    conds = [f"{quote_ident(k)} = {quote_string(v)}" for k, v in sorted((where or {}).items())]
    conds += [f"{quote_ident(k)} = {var(v)}" for k, v in sorted((where_vars or {}).items())]
    if extra:
        conds.append(extra)
    conds.append("$timeFilter")
    text = f"SELECT {cols} FROM {quote_ident(measurement)} WHERE {' AND '.join(conds)}"  # noqa: S608 - quoted parts and fixed macros only
    groups = (["time($__interval)"] if by_interval else []) + [quote_ident(g) for g in group_by]
    if groups:
        text += " GROUP BY " + ", ".join(groups)
    if by_interval:
        text += " fill(none)"
    return Query(text, units)


class InfluxQuery(cogvariants.Dataquery):
    """A raw InfluxQL target of the provisioned InfluxDB datasource."""

    def __init__(self, ref_id: str, query: str, result_format: str, alias: str | None) -> None:
        self.ref_id, self.query = ref_id, query
        self.result_format, self.alias = result_format, alias

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "refId": self.ref_id,
            "datasource": {"type": "influxdb", "uid": INFLUX_UID},
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias:
            out["alias"] = self.alias
        return out


class Influx(Builder[InfluxQuery]):
    def __init__(self, query: Query, *, ref_id: str = "A", table: bool = False) -> None:
        self.units = query.units
        self._q = InfluxQuery(ref_id, query.text, "table" if table else "time_series", None)

    def alias(self, alias: str) -> Influx:
        self._q.alias = alias
        return self

    def build(self) -> InfluxQuery:
        return self._q
