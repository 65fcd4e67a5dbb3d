"""An enterprise's readings: each sensor's newest, a field's series, and the messages of
its sensors the collector refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import EnterpriseDep, ServicesDep
from api.params import ERRORS, IdPath, Instant, period
from api.scope import NOT_FOUND
from smartpark.model import ID_PATTERN

router = APIRouter(tags=["readings"], responses=ERRORS)
E = "/parks/{park_id}/enterprises/{enterprise}"


@router.get(E + "/latest")
def latest(scope: EnterpriseDep, s: ServicesDep) -> list[dict[str, Any]]:
    """Each sensor's newest reading and its age."""
    return s.reads.latest(scope, now=datetime.now(UTC))


@router.get(E + "/sensors/{sensor}/series")
def series(
    scope: EnterpriseDep,
    s: ServicesDep,
    sensor: IdPath,
    field: Annotated[str, Query(pattern=ID_PATTERN, max_length=64)],
    start: Instant,
    end: Instant,
) -> dict[str, Any]:
    """A field's mean per interval; the interval keeps the answer within max_points."""
    lo, hi = period(start, end, max_days=s.settings.api.max_range_days)
    found = s.reads.series(scope, sensor, field, lo, hi, max_points=s.settings.api.max_points)
    if found is None:
        raise NOT_FOUND
    interval, points = found
    return {"sensor": sensor, "field": field, "interval_s": interval, "points": points}


@router.get(E + "/deadletters")
def deadletters(scope: EnterpriseDep, s: ServicesDep) -> list[dict[str, Any]]:
    """The newest messages of the enterprise's sensors that the collector refused, with
    the reason (kept in memory since the API started: the last 100)."""
    return s.hub.dead_letters(scope)
