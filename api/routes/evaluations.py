"""Evaluations an enterprise is judged on: CEMS hourly means, completeness, the energy
quota and carbon budget burn-downs, mu-average grades, and the daily report export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response

from api import export
from api.deps import EnterpriseDep, ParkDep, ServicesDep, SubjectDep
from api.params import ERRORS, Instant, period
from api.reads import split
from smartpark import limits as limits_mod

router = APIRouter(tags=["evaluations"], responses=ERRORS)
E = "/parks/{park_id}/enterprises/{enterprise}"


def _flat(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"start_ms": r["time"], **split(r)[0], **split(r)[1]} for r in rows]


def _enterprise(
    measurement: str, scope: EnterpriseDep, s: ServicesDep, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    lo, hi = period(start, end, max_days=s.settings.api.max_range_days)
    limit = s.settings.api.max_points
    return _flat(s.reads.evaluations(scope, measurement, lo, hi, limit=limit))


@router.get(E + "/cems")
def cems(
    scope: EnterpriseDep, s: ServicesDep, start: Instant, end: Instant
) -> list[dict[str, Any]]:
    """Each stack's O2-corrected hourly means, limits and exceedances."""
    return _enterprise("cems_hourly", scope, s, start, end)


@router.get(E + "/completeness")
def completeness(
    scope: EnterpriseDep, s: ServicesDep, start: Instant, end: Instant
) -> list[dict[str, Any]]:
    """Readings received / expected per sensor and day (complete at 90 %)."""
    return _enterprise("data_quality", scope, s, start, end)


@router.get(E + "/quota")
def quota(
    scope: EnterpriseDep, s: ServicesDep, start: Instant, end: Instant
) -> list[dict[str, Any]]:
    """The monthly energy-use quota burn-down and month-end forecast."""
    return _enterprise("quota", scope, s, start, end)


@router.get("/parks/{park_id}/scopes/{scope}/carbon-budget")
def carbon_budget(
    scope: SubjectDep, s: ServicesDep, start: Instant, end: Instant
) -> list[dict[str, Any]]:
    """The monthly carbon-budget burn-down (碳排放双控) and month-end forecast of an
    enterprise or ``_park``, with the CO2 method and factor that made it."""
    lo, hi = period(start, end, max_days=s.settings.api.max_range_days)
    limit = s.settings.api.max_points
    return _flat(s.reads.figures(scope, "carbon_budget", lo, hi, limit=limit))


@router.get("/parks/{park_id}/scopes/{scope}/limits")
def limits(scope: SubjectDep, s: ServicesDep) -> dict[str, Any]:
    """The monthly energy-use quota (enterprises) and carbon budget configured for an
    enterprise or ``_park`` in the processing configuration, whether or not a burn-down
    point is stored yet (the first one comes from the daily job): ``*_configured`` true
    or false; null when the API cannot read that configuration or it is another park's."""
    known = s.limits_of(scope.park)
    return limits_mod.for_scope(known, scope.subject).public()


@router.get("/parks/{park_id}/grades")
def grades(
    scope: ParkDep, s: ServicesDep, year: Annotated[int, Query(ge=2000, le=2100)]
) -> list[dict[str, Any]]:
    """Mu-average (亩均) grades and scores of a year (``period`` ``year``) and its interim
    views (``01-MM``), each with the period it evaluated (``2025``, ``2025-01..2025-11``)
    and the energy basis and factor set of its per-tce indicators: the caller's
    enterprises only; no grade with too few enterprises."""
    start = datetime(year, 1, 1, tzinfo=ZoneInfo(scope.registry.parks[scope.park].timezone))
    return [
        {"enterprise": r["enterprise"], "period": r.get("period", "year"),
         "evaluated": r.get("evaluated"),
         "grade": None if r.get("grade") in (None, "-") else r["grade"],
         "score": r.get("score"), "rank": r.get("rank"),
         "energy_basis": r.get("energy_basis"), "factor_set": r.get("factor_set")}
        for r in s.reads.grades(scope, start, start.replace(year=year + 1))
    ]  # fmt: skip


@router.get(
    E + "/report",
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
def report(
    scope: EnterpriseDep,
    s: ServicesDep,
    start: Instant,
    end: Instant,
    format: Literal["csv", "parquet"] = "csv",
) -> Response:
    """Daily energy and carbon of a period as CSV (UTF-8 with BOM, for Excel) or
    Parquet, with the coefficients and methods in its header or metadata. Every local
    day the period touches is in it, the day ``start`` falls in included."""
    lo, hi = period(start, end, max_days=s.settings.api.max_range_days)
    zone = ZoneInfo(scope.registry.parks[scope.park].timezone)
    lo = lo.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = s.reads.kpis(scope, "1d", lo, hi, limit=500)
    body, media = export.report(rows, zone=zone, fmt=format, park=scope.park,
                                enterprise=scope.enterprise)  # fmt: skip
    name = f"{scope.enterprise}-{lo.astimezone(zone).date()}.{format}"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
