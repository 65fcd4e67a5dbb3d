"""A city's parks side by side, for a city key: each park's month to date against its
targets, ranked, and the city's totals."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter

from api import city
from api.deps import CityDep, ServicesDep
from api.params import ERRORS
from api.reads import split
from api.scope import SubjectScope
from smartpark.model import PARK_SCOPE

router = APIRouter(tags=["city"], responses=ERRORS)


@router.get("/cities/{city_id}/scorecard")
def scorecard(scope: CityDep, s: ServicesDep) -> dict[str, Any]:
    """Each park of the city this month to date (its own calendar): the clean-energy
    share on the variant its milestones are judged on (65/70/75 %), CO2 per tce against
    its target, energy, CO2 and intensities; parks ranked by clean-energy share; the
    city's totals as the sum of its parks."""
    rows = []
    for park_scope in scope.parks:
        park = park_scope.registry.parks[park_scope.park]
        month = datetime.now(ZoneInfo(park.timezone)).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0
        )
        point = s.reads.kpi_at(SubjectScope.within(park_scope, PARK_SCOPE), "1mo", month)
        figures = split(point)[1] if point is not None else None
        rows.append(city.park_row(park, figures) | {"month_start": month.isoformat()})
    ranked = city.ranked(rows)
    return {"city": scope.city, "parks": ranked, "totals": city.totals(ranked)}
