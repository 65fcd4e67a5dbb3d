"""KPI rows to InfluxDB points and MQTT messages, and the points of the scheduled
evaluations (``cems_hourly``, ``data_quality``, ``quota``, ``carbon_budget``, ``muju``)
(pure).

Every point is encoded through its definition in ``smartpark.schema`` (which checks each
tag and field). Measurement ``kpi``; tags ``park``, ``scope`` (an enterprise id, or ``_park``),
``window`` (1m, 15m, 1h, 1d, 1mo) and the coefficients and methods that made the
figures (``factor_set``, ``energy_basis``, ``grid_factor``, ``residual_factor``);
fields: the totals and KPIs, units in their names, ``*_met`` as booleans; time: the
window's start. Rewriting a window (late data) overwrites the same point.

MQTT: ``{root}/{park}/{scope}/_kpi`` with the same figures as JSON, plus
``window``, ``start_ms``, ``end_ms``, ``revision`` (0 first, +1 per late update)
and the coefficient tags.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import polars as pl

from smartpark import schema
from smartpark.wire import KpiUpdate, encode_kpi_update, kpi_topic

KEYS = ("scope", "window")


def _fields(row: Mapping[str, Any]) -> dict[str, float | bool]:
    out: dict[str, float | bool] = {}
    for key, value in row.items():
        if key in KEYS or value is None:
            continue
        if isinstance(value, bool):
            out[key] = value
        elif isinstance(value, int | float) and math.isfinite(value):
            out[key] = float(value)
    return out


def points(
    frame: pl.DataFrame, *, park: str, window: str, tags: Mapping[str, str]
) -> Iterator[str]:
    """Line protocol for each KPI row (a scope and window)."""
    for row in frame.iter_rows(named=True):
        point_tags = {"park": park, "scope": row["scope"], "window": window, **tags}
        yield schema.KPI.point(point_tags, _fields(row), int(row["window"]))


def sensor_points(frame: pl.DataFrame, *, park: str, window: str) -> Iterator[str]:
    """Measurement ``sensor_use``: one point per sensor and window, the field named by
    its carrier and unit (``grid_kwh``, ``pv_kwh``, ``gas_m3``, ``steam_kg``, every fuel's
    ``coal_kg`` ... ``heat_gj``, ``output``)."""
    for row in frame.iter_rows(named=True):
        tags = {
            "park": park,
            "enterprise": row["enterprise"],
            "kind": row["kind"],
            "sensor": row["sensor"],
            "window": window,
        }
        fields = {
            row["column"]: float(row["use"]),
            "readings": row["readings"],
            "flags": row["flags"],
        }
        yield schema.SENSOR_USE.point(tags, fields, int(row["window"]))


def messages(
    frame: pl.DataFrame,
    *,
    root: str,
    park: str,
    window: str,
    ends: Mapping[int, int],
    tags: Mapping[str, str],
    revisions: Mapping[tuple[str, int], int],
) -> Iterator[tuple[str, bytes]]:
    """One MQTT message per KPI row: topic and JSON payload (``smartpark.wire`` codec)."""
    for row in frame.iter_rows(named=True):
        start = int(row["window"])
        update = KpiUpdate(
            park=park,
            scope=row["scope"],
            window=window,
            start_ms=start,
            end_ms=ends[start],
            revision=revisions.get((row["scope"], start), 0),
            # the envelope's revision is the message's own, not the point's field
            figures={k: v for k, v in _fields(row).items() if k != "revision"},
            methods=tags,
        )
        yield kpi_topic(root, park, update.scope), encode_kpi_update(update)


def cems_points(hours: pl.DataFrame, *, park: str, enterprise: Mapping[str, str]) -> Iterator[str]:
    """Measurement ``cems_hourly``: one point per stack and local hour."""
    for row in hours.iter_rows(named=True):
        tags = {"park": park, "enterprise": enterprise[row["sensor"]], "sensor": row["sensor"]}
        figures = {k: v for k, v in row.items() if k not in ("sensor", "hour") and v is not None}
        yield schema.CEMS_HOURLY.point(tags, figures, row["hour"])


def quality_points(frame: pl.DataFrame, *, park: str, day_ms: int) -> Iterator[str]:
    """Measurement ``data_quality``: completeness per sensor and local day."""
    for r in frame.iter_rows(named=True):
        yield schema.DATA_QUALITY.point(
            {"park": park, "enterprise": r["enterprise"], "sensor": r["sensor"]},
            {
                "readings": r["readings"],
                "expected": r["expected"],
                "completeness_pct": r["completeness_pct"],
                "complete": r["complete"],
            },
            day_ms,
        )


def quota_points(
    frame: pl.DataFrame, *, park: str, month_ms: int, method: Mapping[str, str]
) -> Iterator[str]:
    """Measurement ``quota``: burn-down and forecast per enterprise and month, tagged with
    what made the figures (the total burned, energy basis, factors, certificates)."""
    for r in frame.iter_rows(named=True):
        yield schema.QUOTA.point(
            {"park": park, "enterprise": r["enterprise"], **method},
            {k: v for k, v in r.items() if k != "enterprise"},
            month_ms,
        )


def carbon_budget_points(
    frame: pl.DataFrame, *, park: str, month_ms: int, method: dict[str, str]
) -> Iterator[str]:
    """Measurement ``carbon_budget``: burn-down and forecast per scope (an enterprise or
    ``_park``) and month, tagged with the CO2 method and factor that made the figures."""
    for r in frame.iter_rows(named=True):
        yield schema.CARBON_BUDGET.point(
            {"park": park, "scope": r["enterprise"], **method},
            {k: v for k, v in r.items() if k != "enterprise"},
            month_ms,
        )


def muju_points(
    graded: pl.DataFrame, *, park: str, year_ms: int, period: str, evaluated: str,
    method: Mapping[str, str],
) -> Iterator[str]:  # fmt: skip
    """Measurement ``muju``: score, rank and grade (``-`` without grades) per enterprise
    and period (tag: ``year``, or ``01-MM`` for January to month MM), the period as people
    read it (``evaluated``: ``2025``, ``2026-01..2026-11``), tagged with the energy basis
    and factor set of its per-tce indicators; at the start of the evaluated year."""
    for r in graded.iter_rows(named=True):
        yield schema.MUJU.point(
            {"park": park, "enterprise": r["enterprise"], "period": period, **method},
            {"score": r["score"], "rank": r["rank"], "grade": r["grade"] or "-",
             "evaluated": evaluated},
            year_ms,
        )  # fmt: skip
