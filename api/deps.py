"""The dependencies every route takes (as the FastAPI template's ``deps.py``): who is
asking, and the checked scope of what it asks for.

Each scope dependency reads the ids from the path, applies ``api.scope``'s rule and
returns the scope (404 otherwise); the reads take nothing else, so a route without one
of these has nothing to read with. ``tests/api/test_routes.py`` walks the app's routes
and fails for any route whose scope is not the one its path calls for.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from api.keys import Caller
from api.params import IdPath, ScopePath
from api.scope import CityScope, EnterpriseScope, ParkScope, SubjectScope, reads_park
from api.services import Services


def services(request: Request) -> Services:
    """The app's services (set by ``create_app``)."""
    return cast(Services, request.app.state.services)


ServicesDep = Annotated[Services, Depends(services)]


def current_caller(request: Request, s: ServicesDep) -> Caller:
    """The caller of a request (401 / 429 otherwise)."""
    return s.guard.caller(request)


CallerDep = Annotated[Caller, Depends(current_caller)]


def own_park(caller: CallerDep, s: ServicesDep) -> ParkScope:
    """The caller's own park (for routes whose path names none; a city key has none)."""
    return ParkScope.check(s.registry, caller, caller.park)


def own_parks(caller: CallerDep, s: ServicesDep) -> list[ParkScope]:
    """Every park the caller reads: its own, or a city key's parks of its city."""
    return [ParkScope.check(s.registry, caller, p) for p in s.registry.parks
            if reads_park(s.registry, caller, p)]  # fmt: skip


def park_scope(park_id: IdPath, caller: CallerDep, s: ServicesDep) -> ParkScope:
    """The park of the path, if it is the caller's."""
    return ParkScope.check(s.registry, caller, park_id)


ParkDep = Annotated[ParkScope, Depends(park_scope)]


def city_scope(city_id: IdPath, caller: CallerDep, s: ServicesDep) -> CityScope:
    """The city of the path, if it is the caller's (city keys only)."""
    return CityScope.check(s.registry, caller, city_id)


CityDep = Annotated[CityScope, Depends(city_scope)]
OwnParkDep = Annotated[ParkScope, Depends(own_park)]
OwnParksDep = Annotated[list[ParkScope], Depends(own_parks)]


def enterprise_scope(enterprise: IdPath, park: ParkDep) -> EnterpriseScope:
    """The enterprise of the path, if the caller sees it."""
    return EnterpriseScope.within(park, enterprise)


def subject_scope(scope: ScopePath, park: ParkDep) -> SubjectScope:
    """The enterprise or ``_park`` of the path, if the caller sees its figures."""
    return SubjectScope.within(park, scope)


EnterpriseDep = Annotated[EnterpriseScope, Depends(enterprise_scope)]
SubjectDep = Annotated[SubjectScope, Depends(subject_scope)]

#: The scope dependencies, by the name the route table (tests/api/test_routes.py) uses.
SCOPES = {
    "own park": own_park,
    "own parks": own_parks,
    "city": city_scope,
    "park": park_scope,
    "enterprise": enterprise_scope,
    "subject": subject_scope,
}
