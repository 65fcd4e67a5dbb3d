"""The reports an energy manager files, as XLSX or PDF (issue 27): the monthly energy and
carbon report, the annual energy-use report and the greenhouse-gas inventory of an
enterprise or of the park (``_park``), under the same guard as the KPIs they are made of
(an enterprise gets its own only; another's is 404)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from api import annual, ghg, monthly
from api.deps import ServicesDep, SubjectDep
from api.params import ERRORS
from smartpark.errors import ConfigError

router = APIRouter(tags=["reports"], responses=ERRORS)
S = "/parks/{park_id}/scopes/{scope}"
Period = Annotated[str, Query(pattern=monthly.PERIOD.pattern, description="YYYY-MM, e.g. 2026-11")]


@router.get(
    S + "/reports/monthly",
    responses={200: {"content": {monthly.MEDIA["xlsx"]: {}, monthly.MEDIA["pdf"]: {}}}},
)
def monthly_report(
    scope: SubjectDep, s: ServicesDep, period: Period, format: Literal["xlsx", "pdf"] = "xlsx"
) -> Response:
    """The monthly energy and carbon report of a month (the park's local calendar):
    energy by carrier (physical units and tce), renewables and the quota total, CO2 on
    both methods with their factors, intensities, quota and carbon-budget burn-down,
    alerts, CEMS exceedance hours, completeness, and the same month last year. XLSX: one
    sheet per section; PDF: with charts."""
    try:
        month = monthly.month_of(period)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    known = s.limits_of(scope.park)
    body, media, name = monthly.build(s.reads, s.alerts, scope, month, format, known)
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    S + "/reports/annual",
    responses={200: {"content": {monthly.MEDIA["xlsx"]: {}, monthly.MEDIA["pdf"]: {}}}},
)
def annual_report(
    scope: SubjectDep,
    s: ServicesDep,
    year: Annotated[int, Query(ge=2000, le=2100)],
    format: Literal["xlsx", "pdf"] = "xlsx",
) -> Response:
    """The annual energy-use report (能源利用状况报告) of a year: energy consumed by
    carrier, comprehensive energy consumption, unit product energy against the product
    standard's levels, energy per 10k CNY of added value and its change, by month; what
    no meter gives (purchases, stock, energy-saving measures) listed for the enterprise."""
    body, media, name = annual.build(s.reads, scope, year, format)
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    S + "/reports/ghg",
    responses={200: {"content": {monthly.MEDIA["xlsx"]: {}, monthly.MEDIA["pdf"]: {}}}},
)
def ghg_report(
    scope: SubjectDep,
    s: ServicesDep,
    period: Annotated[str, Query(pattern=ghg.PERIOD.pattern,
                                 description="YYYY (or YYYY-MM for one month), e.g. 2026")],
    format: Literal["xlsx", "pdf"] = "xlsx",
) -> Response:  # fmt: skip
    """The greenhouse-gas inventory (GB/T 32150-2015 and the industry guideline's
    structure) of a year or a month: boundary, fossil fuel combustion, process emissions
    (as declared), purchased electricity (location- and market-based) and heat, totals and
    intensity, the activity-data and factor tables, data quality, and what is left for the
    enterprise."""
    try:
        ghg.period_of(period)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    body, media, name = ghg.build(s.reads, scope, period, format, s.factors_of(scope.park))
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
