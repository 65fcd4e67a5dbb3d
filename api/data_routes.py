"""The data routes: the registry, readings, KPIs and scorecards, evaluations (CEMS,
completeness, quota, carbon budget, grades) and the report export. Every route checks
its scope through the guard before it reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException, Query, Response

from api import export
from api.deps import NOT_FOUND, IdPath, ScopePath, period
from api.keys import Caller
from api.reads import split
from api.services import CallerDep, Services
from smartpark.model import ID_PATTERN, KPI_METHOD_TAGS
from smartpark.registry import Registry

KPI_WINDOW_MS = {"1m": 60_000, "15m": 900_000, "1h": 3_600_000, "1d": 86_400_000}


def mount(app: FastAPI, s: Services) -> None:
    """Add the data routes to ``app``."""
    guard, reads, api = s.guard, s.reads, s.settings.api

    def registry() -> Registry:
        return s.registry  # read per request: SIGHUP may have replaced it

    # -- the registry -----------------------------------------------------------------

    @app.get("/v1/parks")
    def parks(caller: CallerDep) -> list[dict[str, Any]]:
        """The caller's park."""
        return [park(caller.park, caller)]

    @app.get("/v1/parks/{park_id}")
    def park(park_id: IdPath, caller: CallerDep) -> dict[str, Any]:
        guard.park(caller, park_id)
        p = registry().parks[park_id]
        return {
            "id": p.id, "name": p.name, "timezone": p.timezone, "area_mu": p.area_mu,
            "targets": p.targets, "enterprises": guard.visible(caller, park_id),
        }  # fmt: skip

    @app.get("/v1/parks/{park_id}/enterprises")
    def enterprises(park_id: IdPath, caller: CallerDep) -> list[dict[str, Any]]:
        seen = set(guard.visible(caller, park_id))
        return [
            {"id": e.id, "name": e.name, "industry": e.industry, "land_mu": e.land_mu,
             "employees": e.employees}
            for e in registry().parks[park_id].enterprises
            if e.id in seen
        ]  # fmt: skip

    @app.get("/v1/parks/{park_id}/enterprises/{enterprise}/sensors")
    def sensors(park_id: IdPath, enterprise: IdPath, caller: CallerDep) -> list[dict[str, Any]]:
        guard.enterprise(caller, park_id, enterprise)
        return [
            {
                "id": s.ref.sensor, "kind": s.ref.kind, "multiplier": s.spec.multiplier,
                "fields": {k: f.unit for k, f in s.fields.items()},
                "limits_mg_m3": dict(s.spec.limits), "ref_o2_pct": s.spec.ref_o2_pct,
            }
            for s in registry().sensors()
            if s.ref.park == park_id and s.ref.enterprise == enterprise
        ]  # fmt: skip

    # -- readings ---------------------------------------------------------------------

    @app.get("/v1/parks/{park_id}/enterprises/{enterprise}/latest")
    def latest(park_id: IdPath, enterprise: IdPath, caller: CallerDep) -> list[dict[str, Any]]:
        """Each sensor's newest reading and its age."""
        guard.enterprise(caller, park_id, enterprise)
        return reads.latest(park_id, enterprise, now=datetime.now(UTC))

    @app.get("/v1/parks/{park_id}/enterprises/{enterprise}/sensors/{sensor}/series")
    def series(
        park_id: IdPath,
        enterprise: IdPath,
        sensor: IdPath,
        field: Annotated[str, Query(pattern=ID_PATTERN)],
        start: datetime,
        end: datetime,
        caller: CallerDep,
    ) -> dict[str, Any]:
        """A field's mean per interval; the interval keeps the answer within max_points."""
        guard.enterprise(caller, park_id, enterprise)
        found = registry().sensor(park_id, sensor)
        if found is None or found.ref.enterprise != enterprise or field not in found.fields:
            raise NOT_FOUND
        lo, hi = period(start, end, max_days=api.max_range_days)
        interval, points = reads.series(
            park_id, found.ref.kind, sensor, field, lo, hi, max_points=api.max_points
        )
        return {"sensor": sensor, "field": field, "interval_s": interval, "points": points}

    # -- KPIs -------------------------------------------------------------------------

    @app.get("/v1/parks/{park_id}/scopes/{scope}/kpis")
    def kpis(
        park_id: IdPath,
        scope: ScopePath,
        window: Literal["1m", "15m", "1h", "1d", "1mo"],
        start: datetime,
        end: datetime,
        caller: CallerDep,
    ) -> dict[str, Any]:
        """The KPI points of a scope (an enterprise or ``_park``) and window, with the
        coefficients and methods that made each one."""
        guard.scope(caller, park_id, scope)
        lo, hi = period(start, end, max_days=api.max_range_days)
        expected = (hi - lo).total_seconds() * 1000 / KPI_WINDOW_MS.get(window, 28 * 86_400_000)
        if expected > api.max_points:
            raise HTTPException(
                422, f"{window} windows over this period exceed {api.max_points} points"
            )
        rows = reads.points(
            "kpi", {"park": park_id, "scope": scope, "window": window}, lo, hi,
            limit=api.max_points,
        )  # fmt: skip
        points = []
        for row in rows:
            tags, fields = split(row)
            method = {k: tags[k] for k in KPI_METHOD_TAGS if k in tags}
            points.append({"start_ms": row["time"], "method": method, "values": fields})
        return {"park": park_id, "scope": scope, "window": window, "points": points}

    @app.get("/v1/parks/{park_id}/scopes/{scope}/scorecard")
    def scorecard(park_id: IdPath, scope: ScopePath, caller: CallerDep) -> dict[str, Any]:
        """Today, month to date and year to date: each KPI against its target (the park's
        rows carry ``<kpi>_target`` and ``<kpi>_met``) and the same period last year."""
        guard.scope(caller, park_id, scope)
        zone = ZoneInfo(registry().parks[park_id].timezone)
        today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        month = today.replace(day=1)
        year = month.replace(month=1)
        out: dict[str, Any] = {
            "park": park_id, "scope": scope,
            # what *_per_output is per: None when the scope's output units differ
            "output_unit": registry().output_unit(park_id, scope),
        }  # fmt: skip
        for name, window, start in (("today", "1d", today), ("month", "1mo", month)):
            point = reads.kpi_at(park_id, scope, window, start)
            last = reads.kpi_at(park_id, scope, window, start.replace(year=start.year - 1))
            out[name] = _card(point, last, start)
        totals, months = reads.totals(park_id, scope, "1mo", year, month + timedelta(days=32))
        out["year"] = {"start": year.isoformat(), "months": months, "totals": totals}
        return out

    # -- evaluations --------------------------------------------------------------------

    def _measurement(
        name: str, park_id: str, enterprise: str, caller: Caller, start: datetime, end: datetime,
        *, tag: str = "enterprise",
    ) -> list[dict[str, Any]]:  # fmt: skip
        if tag == "scope":
            guard.scope(caller, park_id, enterprise)
        else:
            guard.enterprise(caller, park_id, enterprise)
        lo, hi = period(start, end, max_days=api.max_range_days)
        tags = {"park": park_id, tag: enterprise}
        return [
            {"start_ms": r["time"], **split(r)[0], **split(r)[1]}
            for r in reads.points(name, tags, lo, hi, limit=api.max_points)
        ]

    @app.get("/v1/parks/{park_id}/enterprises/{enterprise}/cems")
    def cems(
        park_id: IdPath, enterprise: IdPath, start: datetime, end: datetime, caller: CallerDep
    ) -> list[dict[str, Any]]:
        """Each stack's O2-corrected hourly means, limits and exceedances."""
        return _measurement("cems_hourly", park_id, enterprise, caller, start, end)

    @app.get("/v1/parks/{park_id}/enterprises/{enterprise}/completeness")
    def completeness(
        park_id: IdPath, enterprise: IdPath, start: datetime, end: datetime, caller: CallerDep
    ) -> list[dict[str, Any]]:
        """Readings received / expected per sensor and day (complete at 90 %)."""
        return _measurement("data_quality", park_id, enterprise, caller, start, end)

    @app.get("/v1/parks/{park_id}/enterprises/{enterprise}/quota")
    def quota(
        park_id: IdPath, enterprise: IdPath, start: datetime, end: datetime, caller: CallerDep
    ) -> list[dict[str, Any]]:
        """The monthly energy-use quota burn-down and month-end forecast."""
        return _measurement("quota", park_id, enterprise, caller, start, end)

    @app.get("/v1/parks/{park_id}/scopes/{scope}/carbon-budget")
    def carbon_budget(
        park_id: IdPath, scope: ScopePath, start: datetime, end: datetime, caller: CallerDep
    ) -> list[dict[str, Any]]:
        """The monthly carbon-budget burn-down (碳排放双控) and month-end forecast of an
        enterprise or ``_park``, with the CO2 method and factor that made it."""
        return _measurement("carbon_budget", park_id, scope, caller, start, end, tag="scope")

    @app.get("/v1/parks/{park_id}/enterprises/{enterprise}/deadletters")
    def deadletters(park_id: IdPath, enterprise: IdPath, caller: CallerDep) -> list[dict[str, Any]]:
        """The newest messages of the enterprise's sensors that the collector refused, with
        the reason (kept in memory since the API started: the last 100)."""
        guard.enterprise(caller, park_id, enterprise)
        return s.hub.dead_letters(park_id, enterprise)

    @app.get("/v1/parks/{park_id}/grades")
    def grades(
        park_id: IdPath, year: Annotated[int, Query(ge=2000, le=2100)], caller: CallerDep
    ) -> list[dict[str, Any]]:
        """Mu-average (亩均) grades and scores of a year (``period`` ``year``) and its interim
        views (``01-MM``): the caller's enterprises only; no grade with too few enterprises."""
        seen = set(guard.visible(caller, park_id))
        start = datetime(year, 1, 1, tzinfo=ZoneInfo(registry().parks[park_id].timezone))
        rows = reads.points("muju", {"park": park_id}, start, start.replace(year=year + 1),
                            limit=1000)  # fmt: skip
        return [
            {"enterprise": r["enterprise"], "period": r.get("period", "year"),
             "grade": None if r.get("grade") in (None, "-") else r["grade"],
             "score": r.get("score"), "rank": r.get("rank")}
            for r in rows
            if r.get("enterprise") in seen
        ]  # fmt: skip

    @app.get("/v1/parks/{park_id}/enterprises/{enterprise}/report")
    def report(
        park_id: IdPath,
        enterprise: IdPath,
        start: datetime,
        end: datetime,
        caller: CallerDep,
        format: Literal["csv", "parquet"] = "csv",
    ) -> Response:
        """Daily energy and carbon of a period as CSV (UTF-8 with BOM, for Excel) or
        Parquet, with the coefficients and methods in its header or metadata. Every local
        day the period touches is in it, the day ``start`` falls in included."""
        guard.enterprise(caller, park_id, enterprise)
        lo, hi = period(start, end, max_days=api.max_range_days)
        zone = ZoneInfo(registry().parks[park_id].timezone)
        lo = lo.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        rows = reads.points(
            "kpi", {"park": park_id, "scope": enterprise, "window": "1d"}, lo, hi, limit=500
        )
        body, media = export.report(rows, zone=zone, fmt=format, park=park_id,
                                    enterprise=enterprise)  # fmt: skip
        name = f"{enterprise}-{lo.astimezone(zone).date()}.{format}"
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


def _card(
    point: dict[str, Any] | None, last: dict[str, Any] | None, start: datetime
) -> dict[str, Any]:
    if point is None:
        return {"start": start.isoformat(), "stored": False}
    tags, values = split(point)
    before = split(last)[1] if last is not None else {}
    kpis = []
    for key, value in sorted(values.items()):
        if key.endswith(("_target", "_met")) or not isinstance(value, int | float):
            continue
        entry: dict[str, Any] = {"kpi": key, "value": value}
        if f"{key}_target" in values:
            entry["target"] = values[f"{key}_target"]
            entry["met"] = values.get(f"{key}_met")
        if isinstance(before.get(key), int | float):
            entry["last_year"] = before[key]
            if before[key]:  # e.g. 单位工业增加值能耗's year-on-year change; a fall is < 0
                entry["change_vs_last_year_pct"] = (value - before[key]) / abs(before[key]) * 100
        kpis.append(entry)
    method = {k: v for k, v in tags.items() if k not in ("park", "scope", "window")}
    return {"start": start.isoformat(), "stored": True, "method": method, "kpis": kpis}
