"""What a panel shows as units, from ``smartpark.schema`` (pure): the schema's symbol of
each column, as Grafana's unit id.

A panel's default unit is that of its first column; every column whose unit differs gets
an override matched by its name (InfluxQL series are shown as ``measurement.field``,
table columns as ``field``), so a CO2 column beside an energy column never reads tce."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from dashboards.queries import Influx
from smartpark import schema

#: Grafana's own unit ids where it has one; other symbols are shown as a suffix.
GRAFANA: dict[str, str] = {
    schema.KWH: "kwatth",
    schema.PCT: "percent",
    schema.MG_M3: "conmgm3",
    schema.COUNT: "short",
    schema.RATIO: "short",
    schema.LEVEL: "short",
    schema.OUTPUT: "short",
    schema.MINUTES: "m",
    schema.DAYS: "d",
    schema.TEXT: "none",
    schema.FLAG: "bool",
    schema.BITS: "none",
    schema.MS: "dateTimeAsIso",
}


def grafana_unit(symbol: str) -> str:
    """Grafana's unit for a schema unit symbol (``tce`` -> ``suffix: tce``)."""
    return GRAFANA.get(symbol, f"suffix: {symbol}")


def column_pattern(name: str) -> str:
    """The override regexp matching a column shown as ``name`` or ``measurement.name``."""
    return rf".*\b{name}\b.*"


Panel = TypeVar("Panel")


def with_units(panel: Panel, targets: Iterable[Influx]) -> Panel:
    """Set ``panel``'s unit, and an override for each column whose unit differs."""
    columns = [(name, grafana_unit(unit)) for t in targets for name, unit in t.units.items()]
    p: Any = panel
    default = columns[0][1]
    p.unit(default)
    for name, unit in dict(columns).items():
        if unit != default:
            p.override_by_regexp(column_pattern(name), [DynamicConfigValue("unit", unit)])
    return panel
