"""A city's parks side by side, for a city key: each park's month to date against its
targets, ranked, and the city's totals."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter

from api import city
from api.deps import CityDep, ServicesDep
from api.monthly import flat
from api.params import ERRORS
from api.reads import split
from api.scope import ParkScope, SubjectScope
from api.services import Services
from smartpark.model import PARK_SCOPE

router = APIRouter(tags=["city"], responses=ERRORS)


@router.get("/cities/{city_id}/scorecard")
def scorecard(scope: CityDep, s: ServicesDep) -> dict[str, Any]:
    """Each park of the city this month to date (its own calendar): the clean-energy
    share on the variant its milestones are judged on (65/70/75 %), CO2 per tce against
    its target, energy, CO2 and intensities, its quota and carbon-budget status and its
    data completeness; parks ranked by clean-energy share; the city's totals as the sum
    of its parks."""
    rows = []
    for park_scope in scope.parks:
        park = park_scope.registry.parks[park_scope.park]
        month = datetime.now(ZoneInfo(park.timezone)).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0
        )
        whole = SubjectScope.within(park_scope, PARK_SCOPE)
        point = s.reads.kpi_at(whole, "1mo", month)
        figures = split(point)[1] if point is not None else None
        found = _evaluations(s, park_scope, whole, month)
        rows.append(city.park_row(park, figures, found) | {"month_start": month.isoformat()})
    ranked = city.ranked(rows)
    return {"city": scope.city, "parks": ranked, "totals": city.totals(ranked)}


def _evaluations(
    s: Services, scope: ParkScope, whole: SubjectScope, month: datetime
) -> city.Evaluations:
    """The month's quota, carbon-budget and completeness points of a park, as stored by
    the processor's daily and hourly jobs (the park's own routes read the same)."""
    end = (month + timedelta(days=32)).replace(day=1)
    quotas = s.reads.park_points(scope, city.QUOTA.name, month, end, limit=10_000)
    budget = s.reads.figures(whole, city.BUDGET.name, month, end, limit=1)
    q, field = city.QUALITY.name, city.COMPLETENESS
    return city.Evaluations(
        quotas=[flat(r) or {} for r in quotas],
        budget=flat(budget[-1]) if budget else None,
        completeness_sum_pct=s.reads.per_enterprise(scope, q, field, "sum", month, end),
        sensor_days=s.reads.per_enterprise(scope, q, field, "count", month, end),
        limits=s.limits_of(scope.park),
    )
