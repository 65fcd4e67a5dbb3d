"""The registry as the caller may see it: its park, the park's enterprises it sees, and
their sensors (units, multipliers, limits)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import EnterpriseDep, OwnParksDep, ParkDep
from api.params import ERRORS
from api.scope import ParkScope

router = APIRouter(tags=["registry"], responses=ERRORS)


def _park(scope: ParkScope) -> dict[str, Any]:
    p = scope.registry.parks[scope.park]
    return {
        "id": p.id, "name": p.name, "city": p.city, "timezone": p.timezone, "area_mu": p.area_mu,
        "targets": p.targets, "enterprises": scope.enterprises(),
    }  # fmt: skip


@router.get("/parks")
def parks(scopes: OwnParksDep) -> list[dict[str, Any]]:
    """The caller's park; a city key's parks of its city."""
    return [_park(scope) for scope in scopes]


@router.get("/parks/{park_id}")
def park(scope: ParkDep) -> dict[str, Any]:
    """The park, its targets and the enterprises the caller sees."""
    return _park(scope)


@router.get("/parks/{park_id}/enterprises")
def enterprises(scope: ParkDep) -> list[dict[str, Any]]:
    """The enterprises of the park the caller sees."""
    seen = set(scope.enterprises())
    return [
        {"id": e.id, "name": e.name, "industry": e.industry, "land_mu": e.land_mu,
         "employees": e.employees}
        for e in scope.registry.parks[scope.park].enterprises
        if e.id in seen
    ]  # fmt: skip


@router.get("/parks/{park_id}/enterprises/{enterprise}/sensors")
def sensors(scope: EnterpriseDep) -> list[dict[str, Any]]:
    """The enterprise's sensors: kind, fields with units, multiplier, limits."""
    return [
        {
            "id": s.ref.sensor, "kind": s.ref.kind, "multiplier": s.spec.multiplier,
            "fields": {k: f.unit for k, f in s.fields.items()},
            "limits_mg_m3": dict(s.spec.limits), "ref_o2_pct": s.spec.ref_o2_pct,
        }
        for s in scope.registry.sensors()
        if s.ref.park == scope.park and s.ref.enterprise == scope.enterprise
    ]  # fmt: skip
