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

import orjson
import polars as pl

from smartpark import schema
from smartpark.store import lineprotocol
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


def _figures(frame: pl.DataFrame, measurement: schema.Measurement) -> list[tuple[str, pl.Expr]]:
    """Per figure column with a value to write (numbers finite, booleans), checked against
    ``measurement``: its name and the expression of its value's text (null where the row
    has none: null, NaN or infinite, as ``_fields`` leaves them out). Numbers are written
    as floats in polars' shortest round-trip form (the same double ``repr`` gives; only
    an exponent may be spelled differently, ``1e-9`` for ``1e-09``)."""
    out = []
    for name, dtype in frame.schema.items():
        if name in KEYS or not (dtype == pl.Boolean or dtype.is_numeric()):
            continue
        col = pl.col(name)
        if dtype == pl.Boolean:
            present, text = (
                col.is_not_null(),
                pl.when(col).then(pl.lit("true")).otherwise(pl.lit("false")),
            )
        else:
            number = col.cast(pl.Float64)
            present, text = number.is_finite(), number.cast(pl.Utf8)
        out.append((name, present, text))
    anywhere = (
        frame.lazy().select(p.any().alias(str(i)) for i, (_n, p, _t) in enumerate(out)).collect()
    ).row(0)
    return [
        (measurement.field(name).name, pl.when(present).then(text))
        for (name, present, text), shown in zip(out, anywhere, strict=True)
        if shown
    ]


def points(
    frame: pl.DataFrame, *, park: str, window: str, tags: Mapping[str, str]
) -> Iterator[str]:
    """Line protocol for each KPI row (a scope and window): the point ``schema.KPI.point``
    makes of the row's figures (``_fields``), built a frame at a time (a catch-up day is
    thousands of rows of some 70 figures): the series checked and escaped once per scope,
    the fields once per column."""
    if frame.height == 0:
        return iter(())
    series = {}
    for scope in frame["scope"].unique().to_list():
        point_tags = {"park": park, "scope": scope, "window": window, **tags}
        for name in point_tags:
            schema.KPI.tag(name)
        series[scope] = lineprotocol.series_key(schema.KPI.name, point_tags)
    body = [pl.lit(f"{lineprotocol.escape_key(n)}=") + t for n, t in _figures(frame, schema.KPI)]
    # lazily: polars 2.1 runs this eager select some ten times slower
    lines = (
        frame.lazy()
        .select(
            pl.col("scope").replace_strict(series, return_dtype=pl.Utf8).alias("series"),
            pl.concat_str(body, separator=",", ignore_nulls=True).alias("body")
            if body
            else pl.lit("").alias("body"),
            pl.col("window").cast(pl.Int64).cast(pl.Utf8).alias("ts"),
        )
        .collect()
    )
    if (lines["body"].fill_null("") == "").any():
        raise ValueError("a point needs at least one field")
    return iter(
        lines.lazy()
        .select(pl.concat_str("series", "body", "ts", separator=" "))
        .collect()
        .to_series()
        .to_list()
    )


def sensor_points(frame: pl.DataFrame, *, park: str, window: str) -> Iterator[str]:
    """Measurement ``sensor_use``: one point per sensor and window, the field named by
    its carrier and unit (``grid_kwh``, ``pv_kwh``, ``gas_m3``, ``steam_kg``, every fuel's
    ``coal_kg`` ... ``heat_gj``, ``output``). Each sensor's series and each field name are
    checked and escaped once per frame; the lines are ``schema.SENSOR_USE.point``'s."""
    series: dict[tuple[str, str, str], str] = {}
    keys: dict[str, str] = {}
    for name in ("readings", "flags"):
        keys[name] = lineprotocol.escape_key(schema.SENSOR_USE.field(name).name)
    for row in frame.select(
        "enterprise", "kind", "sensor", "column", "use", "readings", "flags", "window"
    ).iter_rows():
        enterprise, kind, sensor, column, use, readings, flags, start = row
        if (enterprise, kind, sensor) not in series:
            tags = {"park": park, "enterprise": enterprise, "kind": kind, "sensor": sensor,
                    "window": window}  # fmt: skip
            for name in tags:
                schema.SENSOR_USE.tag(name)
            series[(enterprise, kind, sensor)] = lineprotocol.series_key(
                schema.SENSOR_USE.name, tags
            )
        if column not in keys:
            keys[column] = lineprotocol.escape_key(schema.SENSOR_USE.field(column).name)
        body = ",".join(
            f"{keys[k]}={lineprotocol.format_value(float(v) if k == column else v)}"
            for k, v in ((column, use), ("readings", readings), ("flags", flags))
        )
        yield f"{series[(enterprise, kind, sensor)]} {body} {int(start)}"


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
    """One MQTT message per KPI row: topic and JSON payload, the object
    ``smartpark.wire.encode_kpi_update`` makes of the row (methods, figures, then the
    envelope, in that order), built a frame at a time; figures as in ``points``."""
    if frame.height == 0:
        return iter(())
    figures = [(n, t) for n, t in _figures(frame, schema.KPI) if n != "revision"]
    envelope = ("park", "scope", "window", "start_ms", "end_ms", "revision")
    if {n for n, _t in figures} & (set(tags) | set(envelope)) or set(tags) & set(envelope):
        return _messages_by_row(frame, root=root, park=park, window=window, ends=ends,
                                tags=tags, revisions=revisions)  # fmt: skip
    inner = [pl.lit(orjson.dumps({k: v}).decode()[1:-1]) for k, v in tags.items()]
    inner += [pl.lit(f"{orjson.dumps(n).decode()}:") + t for n, t in figures]
    scopes = frame["scope"].unique().to_list()
    quoted = {s: orjson.dumps(s).decode() for s in scopes}
    keys = frame.select("scope", pl.col("window").cast(pl.Int64)).rows()
    numbers = pl.DataFrame(
        {"_end_ms_": [ends[start] for _s, start in keys],
         "_revision_": [revisions.get(key, 0) for key in keys]},
        schema={"_end_ms_": pl.Int64, "_revision_": pl.Int64},
    )  # fmt: skip
    tail = [
        pl.lit(f'"park":{orjson.dumps(park).decode()},"scope":'),
        pl.col("scope").replace_strict(quoted, return_dtype=pl.Utf8),
        pl.lit(f',"window":{orjson.dumps(window).decode()},"start_ms":'),
        pl.col("window").cast(pl.Int64).cast(pl.Utf8),
        pl.lit(',"end_ms":'),
        pl.col("_end_ms_").cast(pl.Utf8),
        pl.lit(',"revision":'),
        pl.col("_revision_").cast(pl.Utf8),
        pl.lit("}"),
    ]
    joined = (
        frame.with_columns(numbers)
        .lazy()
        .select(
            (pl.concat_str(inner, separator=",", ignore_nulls=True) if inner else pl.lit(""))
            .fill_null("")
            .alias("head"),
            pl.concat_str(tail).alias("tail"),
            "scope",
        )
        .collect()
    )
    topics = {s: kpi_topic(root, park, s) for s in scopes}
    return (
        (topics[scope], (f"{{{head},{tail}" if head else f"{{{tail}").encode())
        for head, tail, scope in joined.iter_rows()
    )


def _messages_by_row(
    frame: pl.DataFrame,
    *,
    root: str,
    park: str,
    window: str,
    ends: Mapping[int, int],
    tags: Mapping[str, str],
    revisions: Mapping[tuple[str, int], int],
) -> Iterator[tuple[str, bytes]]:
    """``messages`` a row at a time (a figure named like a method tag or the envelope:
    the codec's own order of precedence decides)."""
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
